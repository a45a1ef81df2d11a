import { once } from 'node:events';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';

/**
 * Reports are readable by their owner only: they list account ids and what happened to each, and
 * a shared host's other users have no business reading that.
 */
export const REPORT_FILE_MODE = 0o600;

/**
 * Writes chunks to a stream as they come, waiting for `drain` when it is full, so a slow reader
 * (a pipe, a terminal) holds the producer back instead of the chunks piling up in memory. Does
 * not end the stream (it may be stdout).
 * @throws the stream's error (EPIPE when the reader went away).
 */
export async function writeToStream(chunks: AsyncIterable<string>, out: Writable): Promise<void> {
  let failed: Error | undefined;
  const onError = (err: Error): void => {
    failed ??= err;
  };
  const check = (): void => {
    if (failed) throw failed;
  };
  out.on('error', onError);
  try {
    for await (const chunk of chunks) {
      check();
      if (!out.write(chunk)) {
        const ac = new AbortController();
        // Either the reader catches up or the stream fails: whichever comes first.
        await Promise.race([once(out, 'drain', { signal: ac.signal }), once(out, 'error', { signal: ac.signal })]).finally(() => ac.abort());
      }
      check();
    }
  } finally {
    out.off('error', onError);
  }
}

/**
 * Writes chunks to `path`, owner-only ({@link REPORT_FILE_MODE}) whatever the umask: into a new
 * file beside it, synced and then renamed over `path`, so a reader never finds half a report
 * under the final name, and a report that fails half-way leaves nothing behind. An existing file
 * at `path` is replaced (and with it its mode).
 */
export async function writePrivateFile(path: string, chunks: AsyncIterable<string>): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  // `wx`: a fresh file, never one that someone else made (and may have opened) first.
  const fh = await open(tmp, 'wx', REPORT_FILE_MODE);
  try {
    await fh.chmod(REPORT_FILE_MODE);
    for await (const chunk of chunks) await fh.write(chunk);
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
