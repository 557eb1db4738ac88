/**
 * `kest inspect <passport.json|->`: a readable table of a passport's entries — index, operation,
 * principal, trust, taints, parents. Parses strictly but does NOT verify signatures (use verify).
 */
import type { Command } from 'commander';
import { escapeJsonForTerminal, escapeTerminal, ROOT_PARENT } from '../../entry/index.js';
import { KestError, Passport } from '../../index.js';
import { readPassportInput } from '../input.js';
import { type CommandContext, EXIT } from '../io.js';
import { PROFILE_HELP, passportOfBaggage, profileOption } from '../profile.js';

interface InspectOptions {
  json?: boolean;
  profile?: string;
  baggage?: string;
}

/** Escaped first (an entry's text is attacker-chosen), then clipped to the column. */
function clip(raw: string, max: number): string {
  const text = escapeTerminal(raw);
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function renderTable(passport: Passport): string {
  const header = ['#', 'operation', 'principal', 'trust', 'taints', 'parents'];
  const rows = passport.entries.map((e, i) => {
    const p = e.payload;
    const parents =
      p.parent_ids.length === 1 && p.parent_ids[0] === ROOT_PARENT
        ? 'root'
        : p.parent_ids
            .map((h) => {
              const j = passport.indexOfHash(h);
              return j !== undefined && j < i ? `#${j}` : `?${h.slice(0, 12)}`;
            })
            .join(',');
    return [
      String(i),
      clip(p.operation, 40),
      clip(p.labels.principal ?? '', 72),
      String(p.trust_score),
      p.taints.length > 0 ? clip(p.taints.join(','), 48) : '-',
      escapeTerminal(parents),
    ];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (c === 0 || c === 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function register(program: Command, context: CommandContext): void {
  const { io } = context;
  program
    .command('inspect')
    .description('print a passport as a table (parses strictly; does not verify signatures)')
    .argument('[passport]', 'passport JSON file, or - for stdin (or use --baggage)')
    .option('--json', 'print the decoded entries (header, payload, hash) as JSON')
    .option('--profile <name>', PROFILE_HELP)
    .option('--baggage <header>', 'decode a `baggage` header value into its passport (chain tip checked)')
    .action(async (source: string | undefined, options: InspectOptions, command: Command) => {
      const profile = profileOption(options.profile, command, 'inspect');
      if ((source === undefined) === (options.baggage === undefined)) {
        return command.error('kest inspect: give a passport file or --baggage HEADER (one of them)', {
          exitCode: EXIT.usage,
        });
      }
      let passport: Passport;
      try {
        if (options.baggage !== undefined) {
          passport = await passportOfBaggage(options.baggage, profile);
          passport.entries; // parse every entry now, under the profile
        } else {
          const text = await readPassportInput(source as string, command, io);
          passport = Passport.deserialize(text, { profile });
        }
      } catch (err) {
        if (!(err instanceof KestError)) throw err;
        io.stderr.write(`kest inspect: ${err.code}: ${escapeTerminal(err.message)}\n`);
        context.exitCode = EXIT.invalid;
        return;
      }
      if (options.json) {
        const out = passport.entries.map((e, index) => ({
          index,
          hash: e.hash,
          header: e.header,
          payload: e.payload,
        }));
        io.stdout.write(`${escapeJsonForTerminal(JSON.stringify(out, null, 2))}\n`);
      } else {
        io.stdout.write(
          `${passport.length} entr${passport.length === 1 ? 'y' : 'ies'} (not verified: run kest verify)\n` +
            (passport.length > 0 ? `${renderTable(passport)}\ntip ${passport.tipHash}\n` : ''),
        );
      }
      context.exitCode = EXIT.ok;
    });
}
