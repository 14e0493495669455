// Event lines of the long-running commands (epmd serve, tap, listen): a
// timestamped text line on a terminal or in a pipe, or one JSON object per
// line with --json; the progress line is redrawn after each.
import type { Context } from './command.js';
import { clock } from './io.js';

/** Prints the events of one long-running command. */
export class EventLog {
  constructor(
    private readonly ctx: Context,
    private readonly json: boolean,
    /** The progress text after each event, or undefined for none. */
    private readonly status: () => string | undefined,
  ) {}

  /**
   * Prints one event: `text` after the time, or with --json an object with
   * `time`, `event` and `fields`, plus `raw`: JSON text of more members (such as
   * `,"payload":{...}` with a term in the lossless JSON form).
   */
  emit(event: string, text: string, fields: Record<string, unknown> = {}, raw = ''): void {
    const { io, out, progress } = this.ctx;
    progress.clear();
    if (this.json) {
      const head = JSON.stringify({ time: new Date().toISOString(), event, ...fields });
      io.stdout.write(raw ? `${head.slice(0, -1)}${raw}}\n` : `${head}\n`);
    } else {
      io.stdout.write(`${out.paint('gray', clock())} ${text}\n`);
    }
    const s = this.status();
    if (s !== undefined) progress.update(s);
  }
}
