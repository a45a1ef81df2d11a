import { closeSync, createReadStream, writeSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { BreachwaveError } from '@breachwave/domain';
import { keyedHash, type Envelope } from '@breachwave/secrets';
import { splitLines } from './lines.js';
import { openPrivateFileSync } from './private-files.js';
import { readSpool } from './spool.js';

/**
 * Name of a wave's contact-point file, beside its spool: one line per spool entry, in the spool's
 * order, `<account id>\t<phone hash>\t<email hash>` (a hash empty when the account has none),
 * after a first line naming the key (`# contact-points v1 <key check>`). The hashes are keyed
 * HMACs of the normalised phone (E.164) and email under the deployment's HMAC key, so two waves'
 * files can be compared for the same phone or email, and neither says anything about a value to
 * anyone without the key. Never a value in clear. Owner-only, like the spool.
 */
export const CONTACTS_FILE = 'contacts.hmac';

const HEADER = '# contact-points v1 ';
/** Base64url characters kept of each HMAC: 132 bits, collisions out of reach at any wave size. */
const HASH_CHARS = 22;
const FLUSH_BYTES = 64 * 1024;

/** What a file's hashes were made with: two files compare only when their key checks agree. */
export function contactKeyCheck(key: Buffer): string {
  return keyedHash(key, 'breachwave:contact-points:key-check').slice(0, HASH_CHARS);
}

/** The keyed hash of one normalised contact point (its kind keeps a phone and an email apart). */
export function contactPointHash(key: Buffer, kind: 'phone' | 'email', value: string): string {
  return keyedHash(key, `breachwave:contact-point:${kind}:${value}`).slice(0, HASH_CHARS);
}

/**
 * Writes the contact-point file of a spool (`<waveId>:<accountId>` is each contact's AAD): to
 * `path`.tmp, then renamed over `path`, so a reader never sees half a file.
 * @returns the accounts written.
 */
export async function writeContactPoints(options: { readonly spoolPath: string; readonly path: string; readonly waveId: string; readonly key: Buffer; readonly envelope: Envelope }): Promise<number> {
  const { key, envelope, waveId } = options;
  const tmp = `${options.path}.tmp`;
  const fd = openPrivateFileSync(tmp);
  let n = 0;
  try {
    let out = `${HEADER}${contactKeyCheck(key)}\n`;
    for await (const { accountId, record } of readSpool(options.spoolPath)) {
      const contact = record.hasPhone || record.hasEmail ? envelope.openJson<{ phone?: string; email?: string }>(record.contact, `${waveId}:${accountId}`) : {};
      const phone = contact.phone ? contactPointHash(key, 'phone', contact.phone) : '';
      const email = contact.email ? contactPointHash(key, 'email', contact.email) : '';
      out += `${accountId}\t${phone}\t${email}\n`;
      n++;
      if (out.length >= FLUSH_BYTES) {
        writeSync(fd, out);
        out = '';
      }
    }
    writeSync(fd, out);
  } catch (err) {
    closeSync(fd);
    await unlink(tmp).catch(() => {});
    throw err;
  }
  closeSync(fd);
  await rename(tmp, options.path);
  return n;
}

/** One account of a contact-point file. */
export interface ContactPointLine {
  readonly accountId: string;
  /** The account's phone and email hashes, those it has. */
  readonly hashes: readonly string[];
}

/**
 * Reads a contact-point file: its key check, then its accounts in the spool's order (so a walk
 * with `spoolOrdinals` gives each its ordinal).
 * @throws BreachwaveError BW_INPUT_INVALID when the file is not one {@link writeContactPoints} wrote.
 */
export async function openContactPoints(path: string): Promise<{ keyCheck: string; lines: AsyncGenerator<ContactPointLine> }> {
  const iterator = splitLines(createReadStream(path, { highWaterMark: 256 * 1024 }), 4096)[Symbol.asyncIterator]();
  let pending: (Buffer | null)[] = [];
  const nextLine = async (): Promise<Buffer | null | undefined> => {
    while (pending.length === 0) {
      const r = await iterator.next();
      if (r.done) return undefined;
      pending = r.value.lines;
    }
    return pending.shift();
  };
  const bad = (): BreachwaveError => new BreachwaveError('BW_INPUT_INVALID', { detail: `${path} is not a contact-point file` });
  const first = await nextLine();
  const header = first?.toString('utf8') ?? '';
  if (!header.startsWith(HEADER)) throw bad();
  async function* lines(): AsyncGenerator<ContactPointLine> {
    for (;;) {
      const buf = await nextLine();
      if (buf === undefined) return;
      if (buf === null) throw bad();
      if (buf.length === 0) continue;
      const [accountId, phone, email] = buf.toString('utf8').split('\t');
      if (!accountId || phone === undefined || email === undefined) throw bad();
      yield { accountId, hashes: [phone, email].filter((h) => h !== '') };
    }
  }
  return { keyCheck: header.slice(HEADER.length), lines: lines() };
}
