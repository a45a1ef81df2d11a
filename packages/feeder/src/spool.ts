import { createReadStream } from 'node:fs';
import { BreachwaveError } from '@breachwave/domain';
import type { SpoolEntry } from './ingest.js';
import { TOO_LONG, splitLines } from './lines.js';

/** Longest spool line read; a longer one is not an entry the ingest wrote. */
export const MAX_SPOOL_LINE = 16 * 1024 * 1024;

/** One entry of a spool and the (1-based) line it is on. */
export interface SpoolLine {
  readonly line: number;
  readonly entry: SpoolEntry;
}

/** Options of {@link SpoolReader}. */
export interface SpoolReaderOptions {
  /** Lines to pass over unread (a feed's checkpoint): entries come from line `skip + 1` on. */
  readonly skip?: number;
  /** Called with each line passed over (its bytes, or null for an over-long one), e.g. to count it. */
  readonly onSkip?: (line: Buffer | null) => void;
}

/**
 * Reads a wave's spool (`accounts.jsonl`, one {@link SpoolEntry} a line, as the ingest writes it)
 * entry by entry, in bounded memory: the one reader of spools the feeder and the report share.
 * Blank lines are passed over but counted, so `lines` (the lines read so far) is a position in
 * the file a later read can `skip` to.
 * @throws BreachwaveError BW_INPUT_INVALID (while iterating) on a line that is not an account entry.
 */
export class SpoolReader implements AsyncIterable<SpoolLine> {
  /** Lines read so far, blank and skipped ones included. */
  lines = 0;

  constructor(readonly path: string, private readonly options: SpoolReaderOptions = {}) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<SpoolLine> {
    const skip = this.options.skip ?? 0;
    for await (const chunk of splitLines(createReadStream(this.path, { highWaterMark: 256 * 1024 }), MAX_SPOOL_LINE)) {
      for (const buf of chunk.lines) {
        const line = ++this.lines;
        if (line <= skip) {
          this.options.onSkip?.(buf);
          continue;
        }
        if (buf === TOO_LONG) throw notAnEntry(line);
        if (buf.length === 0) continue;
        let entry: SpoolEntry;
        try {
          entry = JSON.parse(buf.toString('utf8')) as SpoolEntry;
        } catch (cause) {
          throw notAnEntry(line, cause);
        }
        if (typeof entry?.accountId !== 'string' || typeof entry.record !== 'object' || entry.record === null) throw notAnEntry(line);
        yield { line, entry };
      }
    }
  }
}

function notAnEntry(line: number, cause?: unknown): BreachwaveError {
  return new BreachwaveError('BW_INPUT_INVALID', { detail: `spool line ${line} is not an account entry`, ...(cause ? { cause } : {}) });
}

/** The entries of a spool, in order ({@link SpoolReader}). */
export async function* readSpool(path: string): AsyncGenerator<SpoolEntry> {
  for await (const { entry } of new SpoolReader(path)) yield entry;
}
