import { fchmodSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';

/**
 * Audit files and checkpoints are readable by their owner only: the trail names accounts and
 * waves, and anyone who can read a directory listing of a shared host could otherwise copy it.
 */
export const PRIVATE_FILE_MODE = 0o600;
/** Directories holding audit files: owner only. */
export const PRIVATE_DIR_MODE = 0o700;

/**
 * Creates `dir` (and missing parents) owner-only, and tightens it when it already exists:
 * `mkdir`'s mode applies only to a directory it creates, so the mode is set explicitly afterwards.
 */
export async function makePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  await chmod(dir, PRIVATE_DIR_MODE);
}

/** Sets an open file to owner-only: the mode given to `open` does nothing when the file existed. */
export function ensurePrivateFileSync(fd: number): void {
  fchmodSync(fd, PRIVATE_FILE_MODE);
}
