import { closeSync, fsyncSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { auditFileName } from '../files.js';
import { PRIVATE_FILE_MODE, ensurePrivateFileSync } from '../private-files.js';

/** The audit file lines are appended to. */
export interface OpenFile {
  readonly path: string;
  readonly dest: ReturnType<typeof pino.destination>;
  /** Lines written to it by this writer (a file is never reopened, so: all of its lines). */
  lines: number;
  /** The destination's asynchronous error, if it reported one. */
  error: Error | undefined;
}

/**
 * The audit files of one directory as the writer sees them: the one open for appending, new
 * files opened in chain order, chunks written through and fsync'd.
 */
export class AuditFileSink {
  /** Newest file name seen or created: new names never sort before it. */
  newestName: string | undefined;
  /** File the next line goes to, if one is open. */
  current: OpenFile | undefined;

  constructor(
    private readonly dir: string,
    private readonly now: () => Date,
    private readonly log: Logger,
  ) {}

  /**
   * Writes `chunk` to `file` and makes it durable; throws if the write or the fsync failed.
   * A sync destination writes the chunk through before write() returns; one fsync then makes
   * it durable. (Its flushSync() would fsync too, but swallows fsync errors: a failed fsync means
   * the lines may not be durable, so ours is the one that counts, and it is the only one.)
   */
  flush(file: OpenFile, chunk: string): void {
    file.dest.write(chunk);
    fsyncSync((file.dest as unknown as { readonly fd: number }).fd);
    if (file.error) throw file.error;
  }

  /** Closes the current file (in the background) and opens a new one whose first line has `firstSeq`. */
  rotate(firstSeq: number): OpenFile {
    const previous = this.current;
    if (previous) {
      this.current = undefined;
      void closeDestination(previous).catch((err: unknown) => this.log.warn({ err, file: previous.path }, 'audit writer: closing a rotated file failed'));
    }
    const name = auditFileName(firstSeq, this.now(), this.newestName);
    const path = join(this.dir, name);
    const dest = pino.destination({ dest: path, sync: true, append: true, mode: PRIVATE_FILE_MODE });
    // The mode above applies only when the file is created; a file that existed is tightened too.
    ensurePrivateFileSync((dest as unknown as { readonly fd: number }).fd);
    const file: OpenFile = { path, dest, lines: 0, error: undefined };
    dest.on('error', (err: Error) => {
      file.error = err;
    });
    fsyncDir(this.dir);
    this.newestName = name;
    this.current = file;
    this.log.info({ file: path, seq: firstSeq }, 'audit file opened');
    return file;
  }

  /** Closes the current file; a failure is logged, not thrown. */
  async close(): Promise<void> {
    const file = this.current;
    this.current = undefined;
    if (!file) return;
    try {
      await closeDestination(file);
    } catch (err) {
      this.log.warn({ err, file: file.path }, 'audit writer: closing the audit file failed');
    }
  }
}

function closeDestination(file: OpenFile): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    file.dest.once('close', () => resolve());
    file.dest.once('error', reject);
    file.dest.end();
  });
}

/** Makes a file changed outside a destination (truncated, appended to) durable. */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Makes a new file's directory entry durable too. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Directories cannot be fsync'd on every platform (Windows); the file's own fsync still holds.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
