import { closeSync, fchmodSync, openSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';

/**
 * Spool files and rejects reports are readable by their owner only: the spool holds encrypted
 * contact records and account ids, the rejects report account line numbers and reasons, and a
 * shared host's other users have no business reading either.
 */
export const PRIVATE_FILE_MODE = 0o600;
/** Directories holding them: owner only. */
export const PRIVATE_DIR_MODE = 0o700;

/**
 * Opens `path` for writing (created or truncated) owner-only and returns its descriptor. The mode
 * given to `open` applies only when the file is created, so an existing one is tightened as well.
 */
export function openPrivateFileSync(path: string): number {
  const fd = openSync(path, 'w', PRIVATE_FILE_MODE);
  try {
    fchmodSync(fd, PRIVATE_FILE_MODE);
  } catch (err) {
    // Nothing may be written to a file whose mode could not be set.
    closeSync(fd);
    throw err;
  }
  return fd;
}

/**
 * Creates `dir` (and missing parents) owner-only, and tightens it when it already exists:
 * `mkdir`'s mode applies only to a directory it creates.
 */
export async function makePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  await chmod(dir, PRIVATE_DIR_MODE);
}
