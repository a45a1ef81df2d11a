import { dirname } from 'node:path';
import { BreachwaveError, MAX_GROUP_ACCOUNTS, chooseChannel, type AffectedAccount, type ChannelPolicy } from '@breachwave/domain';
import { keyedHash } from '@breachwave/secrets';
import { TextOut as Out, textLines as lines } from './dedupe.js';
import { ExternalSorter, keyHash, type SortedReader } from './external-sort.js';

/**
 * The key of the contact point an account's notice goes to and the language it is written in:
 * its first channel under the wave's policy (`chooseChannel`), that channel's normalised value and
 * the account's locale, as an HMAC under a key that lives only for one ingest. Two accounts share
 * a key iff their notices go to the same phone (SMS) or the same email in the same language: a
 * consolidated notice is written in one language, so an English account on a phone shared with a
 * Spanish one gets a notice of its own rather than the Spanish one. The key says nothing of the
 * value to anyone without the ingest's key, which is never stored.
 */
export function contactKey(key: Buffer, account: Pick<AffectedAccount, 'phone' | 'phoneIsMobile' | 'email' | 'locale' | 'segment'>, policy?: ChannelPolicy): string | undefined {
  const channel = chooseChannel(account, policy);
  if (!channel) return undefined;
  const value = channel === 'sms' ? account.phone : account.email;
  return value === undefined ? undefined : keyedHash(key, `${channel}:${value}:${account.locale}`);
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
    let alone = false;
    await this.keys.forEach((r) => {
      if (r.primary === primary && r.key === key) {
        if (alone) {
          shared.add(first, '', 0, first, 0);
          alone = false;
        }
        shared.add(r.a, '', 0, first, 0);
        return;
      }
      primary = r.primary;
      key = r.key;
      first = r.a;
      alone = true;
    });
    this.keys.dispose();
    this.grouped = shared.size;
    return this.grouped;
  }

  /**
   * The accounts sharing a key, in order of ordinal: each record's `primary` is the account's
   * ordinal, its `b` the ordinal of the first account with the same key. Call after `resolve`.
   */
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
 * Accounts alone on their contact point keep the file's order; then come the groups, in the order
 * of their first account, each in the file's order, cut into groups of at most {@link MAX_GROUP_ACCOUNTS}, every member's record
 * carrying the group's account ids (`record.group`, the first one leads). A group may span rows far
 * apart in the file: its rows are gathered by an external sort on (first line of the group, line)
 * written next to `to`, so memory is bounded by the sort's buffer, not by the number of families
 * or accounts. `shared` gives, in order of ordinal (0-based line number of `from`), the accounts
 * that share their key with another and the ordinal of their group's first account
 * (`ContactKeys.sharedOrdinals`).
 */
export async function regroupSpool(options: { readonly from: string; readonly to: string; readonly shared: SortedReader; readonly runBytes?: number }): Promise<RegroupResult> {
  const out = new Out(options.to);
  const members = new ExternalSorter({ dir: dirname(options.to), name: '.members', ...(options.runBytes ? { runBytes: options.runBytes } : {}) });
  let groups = 0;
  let grouped = 0;
  let ordinal = 0;
  let next = options.shared.next();
  try {
    for await (const line of lines(options.from)) {
      const json = line.slice(line.indexOf('\t') + 1);
      if (next?.primary === ordinal) {
        members.add(next.b, '', ordinal, 0, 0, json);
        next = options.shared.next();
      } else {
        await out.write(`${json}\n`);
      }
      ordinal++;
    }
    let chunk: string[] = [];
    const flush = async (): Promise<void> => {
      if (chunk.length === 1) await out.write(`${chunk[0] ?? ''}\n`);
      else if (chunk.length > 1) {
        // The ingest writes each entry's record last: the group goes in before its two closing
        // braces, as text, rather than each grouped line being parsed and encoded again.
        const ids = chunk.map(accountIdOf);
        const group = `,"group":${JSON.stringify(ids)}}}`;
        for (const j of chunk) await out.write(`${j.slice(0, -2)}${group}\n`);
        groups++;
        grouped += chunk.length;
      }
      chunk = [];
    };
    const reader = members.sorted();
    try {
      let primary = -1;
      for (let r = reader.next(); r; r = reader.next()) {
        if (r.primary !== primary) {
          await flush();
          primary = r.primary;
        } else if (chunk.length === MAX_GROUP_ACCOUNTS) await flush();
        chunk.push(r.payload);
      }
      await flush();
    } finally {
      reader.close();
    }
    await out.close();
  } finally {
    options.shared.close();
    members.dispose();
  }
  return { groups, grouped };
}
