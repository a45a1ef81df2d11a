import { unlink } from 'node:fs/promises';
import { BreachwaveError, MAX_GROUP_ACCOUNTS, chooseChannel, type AffectedAccount } from '@breachwave/domain';
import { keyedHash } from '@breachwave/secrets';
import { TextOut as Out, textLines as lines } from './dedupe.js';
import { ExternalSorter, keyHash, type SortedReader } from './external-sort.js';

/**
 * Accounts that go into one bucket file of the regroup pass, about: the pass holds one bucket's
 * lines in memory at a time (~300 bytes a line, so ~6 MB), whatever the number of families.
 */
const BUCKET_ACCOUNTS = 20_000;

/**
 * The key of the contact point an account's notice goes to: its first channel (`chooseChannel`)
 * and that channel's normalised value, as an HMAC under a key that lives only for one ingest.
 * Two accounts share a key iff their notices go to the same phone (SMS) or the same email; the
 * key says nothing of the value to anyone without the ingest's key, which is never stored.
 */
export function contactKey(key: Buffer, account: Pick<AffectedAccount, 'phone' | 'phoneIsMobile' | 'email'>): string | undefined {
  const channel = chooseChannel(account);
  if (!channel) return undefined;
  const value = channel === 'sms' ? account.phone : account.email;
  return value === undefined ? undefined : keyedHash(key, `${channel}:${value}`);
}

/** What a regroup found: notices consolidated and the accounts they cover. */
export interface RegroupResult {
  /** Consolidated notices: groups of two or more accounts. */
  readonly groups: number;
  /** Accounts in those groups. */
  readonly grouped: number;
}

const ENTRY_START = /^\{"line":\d+,"accountId":("(?:[^"\\]|\\.)*")/;

/** The account id of a spool line as the ingest writes it, read without parsing the line; any other shape is parsed whole. */
function accountIdOf(json: string): string {
  const m = ENTRY_START.exec(json);
  if (m?.[1] && json.endsWith('}}')) return JSON.parse(m[1]) as string;
  throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'a spool line is not an account entry' });
}

/**
 * The contact keys of a spool's accounts, gathered to find the accounts that share one, in
 * bounded memory: `(key, ordinal)` pairs go into an external sort next to the spool, whose merge
 * brings each key's accounts together.
 */
export class ContactKeys {
  private readonly keys: ExternalSorter;
  private shared: ExternalSorter | undefined;
  private grouped = 0;

  constructor(private readonly dir: string, private readonly runBytes?: number) {
    this.keys = new ExternalSorter({ dir, name: '.contacts', ...(runBytes ? { runBytes } : {}) });
  }

  /** The `ordinal`-th (0-based) line of the spool has contact key `key` (never empty). */
  add(key: string, ordinal: number): void {
    this.keys.add(keyHash(key), key, ordinal, 0, 0);
  }

  /** Finds the accounts that share a key with another. @returns how many there are. */
  async resolve(): Promise<number> {
    const shared = new ExternalSorter({ dir: this.dir, name: '.shared', runBytes: Math.min(this.runBytes ?? Infinity, 4 * 1024 * 1024) });
    this.shared = shared;
    let primary = -1;
    let key = '';
    let first = -1;
    await this.keys.forEach((r) => {
      if (r.primary === primary && r.key === key) {
        if (first >= 0) {
          shared.add(first, '', 0, 0, 0);
          first = -1;
        }
        shared.add(r.a, '', 0, 0, 0);
        return;
      }
      primary = r.primary;
      key = r.key;
      first = r.a;
    });
    this.keys.dispose();
    this.grouped = shared.size;
    return this.grouped;
  }

  /** The ordinals of the accounts sharing a key, in order. Call after `resolve`. */
  sharedOrdinals(): SortedReader {
    return this.shared?.sorted() ?? { next: () => undefined, close: () => {} };
  }

  /** Accounts that share a key with another (after `resolve`). */
  get sharing(): number {
    return this.grouped;
  }

  /** Removes every temporary file. */
  dispose(): void {
    this.keys.dispose();
    this.shared?.dispose();
  }
}

/**
 * Rewrites a spool whose lines are `<contact key>\t<SpoolEntry JSON>` into the spool the feeder
 * reads, with the accounts that share a contact point next to one another, so the feeder puts them
 * in one batch and one job and the notifier sends them one notice.
 *
 * Accounts alone on their contact point keep the file's order; then come the groups, each in the
 * file's order, cut into groups of at most {@link MAX_GROUP_ACCOUNTS}, every member's record
 * carrying the group's account ids (`record.group`, the first one leads). A group may span rows far
 * apart in the file: its rows are gathered through bucket files (by contact key), each read alone,
 * so memory is bounded by a bucket, not by the number of families. `shared` gives, in order, the
 * ordinals (0-based line numbers of `from`) of the accounts that share their key with another
 * (`ContactKeys`); `grouped` is how many there are.
 */
export async function regroupSpool(options: { readonly from: string; readonly to: string; readonly shared: SortedReader; readonly grouped: number }): Promise<RegroupResult> {
  const out = new Out(options.to);
  const k = Math.max(1, Math.ceil(options.grouped / BUCKET_ACCOUNTS));
  const bucketPaths = Array.from({ length: options.grouped > 0 ? k : 0 }, (_, i) => `${options.to}.group${i}`);
  const buckets = bucketPaths.map((p) => new Out(p));
  let groups = 0;
  let grouped = 0;
  let ordinal = 0;
  let next = options.shared.next()?.primary;
  try {
    for await (const line of lines(options.from)) {
      const tab = line.indexOf('\t');
      const key = line.slice(0, tab);
      const json = line.slice(tab + 1);
      const isShared = next === ordinal;
      if (isShared) next = options.shared.next()?.primary;
      ordinal++;
      const bucket = isShared && key !== '' ? buckets[Buffer.from(key.slice(0, 8), 'base64url').readUInt32BE(0) % k] : undefined;
      if (bucket) await bucket.write(`${line}\n`);
      else await out.write(`${json}\n`);
    }
    for (const b of buckets) await b.close();
    for (const path of bucketPaths) {
      const byKey = new Map<string, string[]>();
      for await (const line of lines(path)) {
        const tab = line.indexOf('\t');
        const key = line.slice(0, tab);
        let list = byKey.get(key);
        if (!list) byKey.set(key, (list = []));
        list.push(line.slice(tab + 1));
      }
      for (const members of byKey.values()) {
        for (let i = 0; i < members.length; i += MAX_GROUP_ACCOUNTS) {
          const chunk = members.slice(i, i + MAX_GROUP_ACCOUNTS);
          if (chunk.length === 1) {
            await out.write(`${chunk[0] ?? ''}\n`);
            continue;
          }
          // The ingest writes each entry's record last: the group goes in before its two closing
          // braces, as text, rather than each grouped line being parsed and encoded again.
          const ids = chunk.map(accountIdOf);
          const group = `,"group":${JSON.stringify(ids)}}}`;
          for (const j of chunk) await out.write(`${j.slice(0, -2)}${group}\n`);
          groups++;
          grouped += chunk.length;
        }
      }
      await unlink(path);
    }
    await out.close();
  } finally {
    options.shared.close();
    await Promise.all(bucketPaths.map((p) => unlink(p).catch(() => {})));
  }
  return { groups, grouped };
}
