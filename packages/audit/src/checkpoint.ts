import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import { BreachwaveError } from '@breachwave/domain';
import { canonicalJson, parseJsonObject } from './chain.js';
import { PRIVATE_FILE_MODE, ensurePrivateFileSync } from './private-files.js';

/**
 * File beside the audit files holding the signed checkpoints, one JSON object per line. Its name
 * does not end in `.jsonl`, so `*.jsonl` globs of the audit files never pick it up.
 */
export const CHECKPOINT_FILE = 'audit.checkpoints';

/** Why a checkpoint was made. */
export type CheckpointReason = 'records' | 'interval' | 'rotation' | 'shutdown' | 'recovery';

/**
 * What a checkpoint states, signed as its canonical JSON. The chain is append-only and hashed,
 * but anyone who can write the files can recompute every hash; a signature over the head of the
 * chain at a known place is what they cannot make without the writer's private key.
 */
export interface CheckpointBody {
  /** Format version, 1. */
  readonly v: 1;
  /** 1 for the chain's first checkpoint, then +1 for each: a removed checkpoint leaves a gap. */
  readonly n: number;
  /** Key prefix of the chain (a checkpoint of another chain never matches this one). */
  readonly chain: string;
  /** The chain's last record at the time: its `seq` … */
  readonly seq: number;
  /** … its `hash` … */
  readonly hash: string;
  /** … the audit file (name only) holding it … */
  readonly file: string;
  /** … and its 1-based line in that file. */
  readonly line: number;
  /** True when `file` was closed at `line`: no line may follow it in that file. */
  readonly sealed: boolean;
  readonly reason: CheckpointReason;
  /** When it was made (ISO 8601). */
  readonly ts: string;
  /** Id of the signing key; absent on an unsigned checkpoint (a writer started without a key). */
  readonly keyId?: string;
}

/** A checkpoint as stored: the body plus its Ed25519 signature (base64), when signed. */
export interface Checkpoint extends CheckpointBody {
  readonly sig?: string;
}

/** The writer's signing key: an Ed25519 private key and the id written into each checkpoint. */
export interface CheckpointSigner {
  readonly keyId: string;
  readonly privateKey: KeyObject;
}

/** Public keys by key id, for verification. */
export type PublicKeyRing = ReadonlyMap<string, KeyObject>;

/** Key of the newest checkpoint in Redis: `${prefix}:audit:checkpoint`. */
export function auditCheckpointKey(prefix: string): string {
  return `${prefix}:audit:checkpoint`;
}

/**
 * The default key id of a key: the first 16 hex digits of SHA-256 over its public key (SPKI DER).
 * A bare public key given to the verifier gets the same id, so no id has to be configured at all.
 */
export function publicKeyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/**
 * Parses the writer's signing key: PEM (PKCS#8) text or base64 of its DER. Must be Ed25519.
 * @throws BreachwaveError BW_CONFIG_INVALID (never quoting the key).
 */
export function createCheckpointSigner(text: string, keyId?: string): CheckpointSigner {
  let privateKey: KeyObject;
  try {
    privateKey = text.includes('-----BEGIN')
      ? createPrivateKey(text)
      : createPrivateKey({ key: Buffer.from(text.trim(), 'base64'), format: 'der', type: 'pkcs8' });
  } catch {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'audit signing key: not a PKCS#8 private key (PEM, or base64 DER)' });
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `audit signing key: must be Ed25519, got ${privateKey.asymmetricKeyType ?? 'unknown'}` });
  }
  const id = keyId ?? publicKeyId(privateKey);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'audit signing key id: 1–64 of A–Z a–z 0–9 . _ -' });
  return Object.freeze({ keyId: id, privateKey });
}

/**
 * Parses public keys for verification, from a key-ring text: PEM blocks (`-----BEGIN PUBLIC KEY-----`),
 * each optionally preceded by `id:`, and/or entries `id:base64` or `base64` (SPKI DER) separated
 * by commas or whitespace. A key without an id gets {@link publicKeyId}. Only Ed25519 keys.
 * @throws BreachwaveError BW_CONFIG_INVALID naming the entry's position.
 */
export function parsePublicKeys(text: string, into = new Map<string, KeyObject>()): Map<string, KeyObject> {
  const add = (id: string | undefined, make: () => KeyObject, where: string): void => {
    let key: KeyObject;
    try {
      key = make();
    } catch {
      throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `audit public key ${where}: not a public key (PEM, or base64 SPKI DER)` });
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `audit public key ${where}: must be Ed25519` });
    into.set(id ?? publicKeyId(key), key);
  };
  let count = 0;
  const rest = text.replace(/(?:([A-Za-z0-9._-]+):\s*)?(-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----)/g, (_m, id: string | undefined, pem: string) => {
    count++;
    add(id, () => createPublicKey(pem), `#${count}`);
    return ' ';
  });
  for (const token of rest.split(/[\s,]+/).filter(Boolean)) {
    count++;
    const m = /^(?:([A-Za-z0-9._-]+):)?([A-Za-z0-9+/=]+)$/.exec(token);
    if (!m) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `audit public key #${count}: expected id:base64, base64 or PEM` });
    add(m[1], () => createPublicKey({ key: Buffer.from(m[2] ?? '', 'base64'), format: 'der', type: 'spki' }), `#${count}`);
  }
  return into;
}

/** Signs a checkpoint body (the `keyId` is set from the signer). */
export function signCheckpoint(body: Omit<CheckpointBody, 'keyId'>, signer: CheckpointSigner): Checkpoint {
  const signed: CheckpointBody = { ...body, keyId: signer.keyId };
  const sig = sign(null, Buffer.from(canonicalJson(signed)), signer.privateKey).toString('base64');
  return { ...signed, sig };
}

/** How a stored checkpoint's signature checks out against a key ring. */
export type SignatureCheck = 'valid' | 'unsigned' | 'unknown-key' | 'bad-signature';

/** Checks a checkpoint's signature: the body without `sig`, canonical JSON, Ed25519. */
export function checkCheckpointSignature(cp: Checkpoint, keys: PublicKeyRing): SignatureCheck {
  if (cp.sig === undefined || cp.keyId === undefined) return 'unsigned';
  const key = keys.get(cp.keyId);
  if (!key) return 'unknown-key';
  const { sig, ...body } = cp;
  try {
    return verify(null, Buffer.from(canonicalJson(body)), key, Buffer.from(sig, 'base64')) ? 'valid' : 'bad-signature';
  } catch {
    return 'bad-signature';
  }
}

/** A checkpoint read back, or why its text is not one. */
export function parseCheckpoint(text: string): Checkpoint | string {
  const c = parseJsonObject(text);
  if (typeof c === 'string') return c;
  if (c.v !== 1) return 'unknown checkpoint version';
  for (const f of ['n', 'seq', 'line'] as const) if (!Number.isSafeInteger(c[f]) || (c[f] as number) < 1) return `field ${f} missing or not a positive integer`;
  for (const f of ['chain', 'hash', 'file', 'reason', 'ts'] as const) if (typeof c[f] !== 'string') return `field ${f} missing or not a string`;
  if (typeof c.sealed !== 'boolean') return 'field sealed missing or not a boolean';
  for (const f of ['keyId', 'sig'] as const) if (c[f] !== undefined && typeof c[f] !== 'string') return `field ${f} is not a string`;
  if ((c.keyId === undefined) !== (c.sig === undefined)) return 'keyId and sig must come together';
  return c as unknown as Checkpoint;
}

/** One line of the checkpoint file. */
export interface CheckpointEntry {
  /** 1-based line in the checkpoint file. */
  readonly line: number;
  /** The checkpoint, or why the line is not one. */
  readonly checkpoint: Checkpoint | string;
}

/**
 * Reads a checkpoint file; a missing file has no entries.
 * @throws BreachwaveError BW_INPUT_FILE when it exists but cannot be read.
 */
export async function readCheckpointFile(path: string): Promise<CheckpointEntry[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new BreachwaveError('BW_INPUT_FILE', { detail: `cannot read ${path}: ${(err as Error).message}`, cause: err });
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((l, i) => ({ line: i + 1, checkpoint: parseCheckpoint(l) }));
}

/**
 * Appends one checkpoint line and fsyncs it. Synchronous on purpose: the writer makes checkpoints
 * between its own synchronous file writes, and a checkpoint must be durable before its Redis copy.
 * The file is created owner-only (0600).
 */
export function appendCheckpointSync(path: string, cp: Checkpoint): void {
  const fd = openSync(path, 'a', PRIVATE_FILE_MODE);
  try {
    ensurePrivateFileSync(fd);
    writeSync(fd, `${JSON.stringify(cp)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Reads the newest checkpoint kept in Redis; undefined when none, or it is unreadable. */
export async function readRedisCheckpoint(redis: Redis, prefix: string): Promise<Checkpoint | undefined> {
  const raw = await redis.get(auditCheckpointKey(prefix));
  if (raw === null) return undefined;
  const cp = parseCheckpoint(raw);
  return typeof cp === 'string' ? undefined : cp;
}
