/**
 * A pluggable structured logger. The default writes one JSON line per record to stderr; pass pino
 * (or anything with the same four methods taking (record, message)) through configure({ logger }).
 */
export interface KestLogger {
  debug(record: Record<string, unknown>, message: string): void;
  info(record: Record<string, unknown>, message: string): void;
  warn(record: Record<string, unknown>, message: string): void;
  error(record: Record<string, unknown>, message: string): void;
}

function line(level: string, record: Record<string, unknown>, message: string): void {
  process.stderr.write(
    `${JSON.stringify({ level, time: Date.now(), name: 'kest', msg: message, ...record })}\n`,
  );
}

export const stderrLogger: KestLogger = {
  debug: (r, m) => {
    if (process.env.KEST_LOG_LEVEL === 'debug') line('debug', r, m);
  },
  info: (r, m) => {
    if (process.env.KEST_LOG_LEVEL === 'debug' || process.env.KEST_LOG_LEVEL === 'info') line('info', r, m);
  },
  warn: (r, m) => {
    if (process.env.KEST_LOG_LEVEL !== 'silent' && process.env.KEST_LOG_LEVEL !== 'error') line('warn', r, m);
  },
  error: (r, m) => {
    if (process.env.KEST_LOG_LEVEL !== 'silent') line('error', r, m);
  },
};

export const silentLogger: KestLogger = { debug() {}, info() {}, warn() {}, error() {} };
