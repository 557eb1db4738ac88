import { KestError } from '../errors.js';

/** Telemetry or audit input that cannot be used (unknown exporter, unreadable span file, ...). */
export class KestTelemetryError extends KestError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_AUDIT', message, options);
  }
}
