import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BreachwaveError } from '@breachwave/domain';
import type { InputFormat } from './ingest.js';
import { PRIVATE_FILE_MODE, makePrivateDir } from './private-files.js';

/**
 * Affected-account files sent over the network (the ops API's upload) wait here, owner-only, until
 * a wave is made of them: `<dataDir>/uploads/<id>.<csv|jsonl>`. They hold contact points in
 * clear, as the operator's export did, so they live no longer than needed: the wave's creation
 * removes its upload, and uploads older than {@link UPLOAD_TTL_MS} are removed at the next upload.
 */
export const UPLOADS_DIR = 'uploads';
/** An upload no wave was made of is removed after a day. */
export const UPLOAD_TTL_MS = 24 * 3600_000;
/** Upload ids: 24 hex digits, so a path can never be named through one. */
export const UPLOAD_ID = /^[0-9a-f]{24}$/;

export interface SavedUpload {
  readonly upload: string;
  readonly format: InputFormat;
  readonly bytes: number;
}

const dirOf = (dataDir: string): string => join(dataDir, UPLOADS_DIR);

/**
 * Streams `body` into a new upload, counting bytes: more than `maxBytes` stops it, and the partial
 * file is removed. Expired uploads are removed first.
 * @throws BreachwaveError BW_HTTP_BODY_TOO_LARGE past `maxBytes`; BW_INPUT_INVALID for an empty body; BW_INPUT_FILE when it cannot be written.
 */
export async function saveUpload(options: { readonly dataDir: string; readonly body: Readable; readonly format: InputFormat; readonly maxBytes: number; readonly now?: number }): Promise<SavedUpload> {
  const dir = dirOf(options.dataDir);
  await makePrivateDir(dir);
  await sweepUploads(options.dataDir, options.now ?? Date.now());
  const upload = randomBytes(12).toString('hex');
  const path = join(dir, `${upload}.${options.format}`);
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > options.maxBytes) done(new BreachwaveError('BW_HTTP_BODY_TOO_LARGE', { detail: `an upload is at most ${options.maxBytes} bytes` }));
      else done(null, chunk);
    },
  });
  try {
    await pipeline(options.body, counter, createWriteStream(path, { flags: 'wx', mode: PRIVATE_FILE_MODE }));
    if (bytes === 0) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'the upload is empty' });
  } catch (err) {
    await rm(path, { force: true });
    if (err instanceof BreachwaveError) throw err;
    throw new BreachwaveError('BW_INPUT_FILE', { detail: 'the upload could not be stored', cause: err });
  }
  return { upload, format: options.format, bytes };
}

/**
 * The path of an upload.
 * @throws BreachwaveError BW_INPUT_INVALID for a malformed id; BW_UPLOAD_NOT_FOUND when there is none (or it expired).
 */
export async function uploadPath(dataDir: string, upload: string): Promise<string> {
  if (!UPLOAD_ID.test(upload)) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'upload: must be the id an upload answered with (24 hex digits)' });
  for (const ext of ['csv', 'jsonl'] as const) {
    const path = join(dirOf(dataDir), `${upload}.${ext}`);
    if (await stat(path).then(() => true, () => false)) return path;
  }
  throw new BreachwaveError('BW_UPLOAD_NOT_FOUND', { detail: `upload ${upload}` });
}

/** Removes an upload; true when there was one. */
export async function removeUpload(dataDir: string, upload: string): Promise<boolean> {
  const path = await uploadPath(dataDir, upload).catch(() => undefined);
  if (!path) return false;
  await rm(path, { force: true });
  return true;
}

/** Removes uploads older than {@link UPLOAD_TTL_MS}; returns how many. */
export async function sweepUploads(dataDir: string, now = Date.now()): Promise<number> {
  const dir = dirOf(dataDir);
  const names = await readdir(dir).catch(() => [] as string[]);
  let removed = 0;
  for (const name of names) {
    const path = join(dir, name);
    const s = await stat(path).catch(() => undefined);
    if (s && now - s.mtimeMs > UPLOAD_TTL_MS) {
      await rm(path, { force: true });
      removed++;
    }
  }
  return removed;
}
