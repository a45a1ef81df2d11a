import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { BreachwaveError, maskCode, validateCode } from '@breachwave/domain';
import { AUDIT_FIELD, auditRecordJson } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import { epochDay, isoDay, parseEnrollBy } from './dates.js';
import { codeAad, codeHash, type CodeStore } from './store.js';

/** One rejected line of a file: its 1-based line number and why (never the code itself). */
export interface LineProblem {
  readonly line: number;
  readonly reason: string;
}

/** Rejected lines kept in a report; beyond this only the count grows (`rejectsTruncated`). */
export const MAX_LISTED_PROBLEMS = 10_000;

/** Options for {@link importPool}. */
export interface PoolImportOptions {
  /** One code per line; blank lines are skipped; an optional header line naming `code`. */
  readonly file: string;
  readonly pool: string;
  /** `YYYY-MM-DD`: the vendor's deadline for these codes; must not be in the past. */
  readonly enrollBy: string;
  /** Require the Luhn mod 32 check character (default true); vendors without one: false. */
  readonly check?: boolean;
  /** Codes per Redis round trip. Default 500. */
  readonly batch?: number;
  readonly log?: Logger;
  /** Audit actor. Default `operator`. */
  readonly actor?: string;
}

/** What an import did. `lines = loaded + alreadyLoaded + rejected + blank (+ 1 header)`. */
export interface PoolImportReport {
  readonly pool: string;
  readonly enrollBy: string;
  /** Content hash of the file (first 16 hex): the same file always has the same id. */
  readonly importId: string;
  readonly lines: number;
  readonly header: boolean;
  readonly blank: number;
  readonly loaded: number;
  /** Codes this pool held already (a re-import): not loaded again. */
  readonly alreadyLoaded: number;
  readonly rejected: number;
  readonly rejects: readonly LineProblem[];
  readonly rejectsTruncated: boolean;
  /** Unexpired, unassigned codes in the pool after the import. */
  readonly available: number;
}

function fileError(file: string, err: unknown): BreachwaveError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const what = code === 'ENOENT' ? 'file not found' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : `cannot read (${code ?? 'error'})`;
  return new BreachwaveError('BW_INPUT_FILE', { detail: `${what}: ${file}`, cause: err });
}

async function fileDigest(file: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  } catch (err) {
    throw fileError(file, err);
  }
  return hash.digest('hex').slice(0, 16);
}

/** Streams a file's lines with their 1-based numbers, in bounded memory. */
async function* numberedLines(file: string): AsyncGenerator<[number, string]> {
  const input = createReadStream(file);
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of lines) yield [++n, line];
  } catch (err) {
    throw fileError(file, err);
  } finally {
    lines.close();
    input.destroy();
  }
}

/** A first line that names its column (`code`, `activation_code`, `Code,Redeemed`…) rather than holding one. */
function isHeader(lineNo: number, text: string): boolean {
  return lineNo === 1 && /^[A-Za-z _-]*code[A-Za-z _,-]*$/i.test(text.trim());
}

/** Lines a file had, and what of them was not data. */
interface FileShape {
  readonly lines: number;
  readonly blank: number;
  readonly header: boolean;
}

/**
 * Streams a code file's data lines (with their 1-based numbers) to `each`, in bounded memory,
 * skipping blank lines and a header line, and says what it skipped.
 */
async function eachDataLine(file: string, each: (n: number, text: string) => Promise<void> | void): Promise<FileShape> {
  let lines = 0;
  let blank = 0;
  let header = false;
  for await (const [n, text] of numberedLines(file)) {
    lines = n;
    if (text.trim() === '') blank++;
    else if (isHeader(n, text)) header = true;
    else await each(n, text);
  }
  return { lines, blank, header };
}

/** A file's problem lines: every one counted, the first {@link MAX_LISTED_PROBLEMS} kept. */
function lineProblems() {
  const listed: LineProblem[] = [];
  let count = 0;
  return {
    add(line: number, reason: string): void {
      count++;
      if (listed.length < MAX_LISTED_PROBLEMS) listed.push({ line, reason });
    },
    get count(): number {
      return count;
    },
    /** The kept ones by line number, and whether some were left out. */
    report(): { listed: LineProblem[]; truncated: boolean } {
      return { listed: listed.sort((x, y) => x.line - y.line), truncated: count > listed.length };
    },
  };
}

/**
 * Streams a vendor's code file into a named pool. Each line is validated (alphabet, length,
 * check character), sealed (AES-256-GCM, bound to its index hash) and indexed by keyed hash;
 * lines are reported by number when malformed, when they repeat an earlier line, or when the
 * code belongs to another pool. Re-importing the same file adds nothing. A crash mid-import is
 * safe to re-run: batches already loaded report as already loaded.
 * @throws BreachwaveError BW_INPUT_INVALID (pool name, enroll-by date), BW_INPUT_FILE.
 */
export async function importPool(store: CodeStore, options: PoolImportOptions): Promise<PoolImportReport> {
  const { redis, keys, auditKey, now, crypto, checkPool } = store.internals;
  checkPool(options.pool);
  const day = parseEnrollBy(options.enrollBy, '--enroll-by');
  const today = epochDay(now());
  if (day < today) throw new BreachwaveError('BW_INPUT_INVALID', { detail: `--enroll-by ${isoDay(day)} is in the past: the codes would never work` });
  const c = crypto();
  const check = options.check ?? true;
  const batchSize = options.batch ?? 500;
  const importId = await fileDigest(options.file);
  const run = keys.importRun(options.pool, importId);

  const rejects = lineProblems();
  const reject = rejects.add;
  let loaded = 0;
  let alreadyLoaded = 0;
  let pending: { line: number; args: [string, string, string] }[] = [];

  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const out = await redis.bwCodeImport(keys.index, keys.available(options.pool), keys.sealed(options.pool), keys.pool(options.pool), run, keys.pools,
      options.pool, String(day), ...batch.flatMap((b) => b.args));
    await redis.expire(run, 86_400);
    out.forEach((o, i) => {
      const line = batch[i]?.line ?? 0;
      if (o === 'loaded') loaded++;
      else if (o === 'already') alreadyLoaded++;
      else if (o.startsWith('dup:')) reject(line, `duplicate of line ${o.slice(4)}`);
      else if (o === 'conflict:gen') reject(line, 'already issued as a generated code');
      else reject(line, `already loaded into pool ${o.replace(/^conflict:pool:/, '')}`);
    });
  };

  const { lines, blank, header } = await eachDataLine(options.file, async (n, text) => {
    const v = validateCode(text, { check });
    if (!v.ok) return reject(n, v.reason);
    const h = codeHash(c, v.code);
    pending.push({ line: n, args: [h, String(n), JSON.stringify({ m: maskCode(v.code), c: c.envelope.seal(v.code, codeAad(h)) })] });
    if (pending.length >= batchSize) await flush();
  });
  await flush();
  const rejected = rejects.count;
  const { listed, truncated } = rejects.report();

  const available = await redis.zcount(keys.available(options.pool), today, '+inf');
  const m = redis.multi();
  if (available >= store.lowWatermark) m.hdel(keys.pool(options.pool), 'low');
  if (available > 0) m.hdel(keys.pool(options.pool), 'empty');
  m.hincrby(keys.pool(options.pool), 'imports', 1);
  m.xadd(auditKey, '*', AUDIT_FIELD, auditRecordJson({ type: 'codes.imported', actor: options.actor ?? 'operator',
    detail: { pool: options.pool, importId, enrollBy: isoDay(day), lines, loaded, alreadyLoaded, rejected, blank, available } }, now()));
  m.unlink(run);
  await m.exec();
  options.log?.info({ pool: options.pool, importId, loaded, alreadyLoaded, rejected, blank, available }, 'code pool import finished');
  return {
    pool: options.pool, enrollBy: isoDay(day), importId, lines, header, blank, loaded, alreadyLoaded, rejected,
    rejects: listed, rejectsTruncated: truncated, available,
  };
}

/** Options for {@link importRedemptions}. */
export interface RedemptionImportOptions {
  /** The vendor's redeemed codes: `CODE` or `CODE,YYYY-MM-DD` per line. */
  readonly file: string;
  /** Check characters are not required: a vendor reports its codes as it issued them. */
  readonly batch?: number;
  readonly log?: Logger;
  readonly actor?: string;
}

/** What a redemption import did. */
export interface RedemptionReport {
  readonly lines: number;
  readonly header: boolean;
  readonly blank: number;
  /** Newly marked redeemed. */
  readonly redeemed: number;
  /** Marked by an earlier feed already. */
  readonly alreadyRedeemed: number;
  /** Lines naming no code of this deployment, codes never handed out, or malformed lines. */
  readonly problems: number;
  readonly problemLines: readonly LineProblem[];
  readonly problemsTruncated: boolean;
}

/**
 * Imports a vendor's feed of redeemed codes: each code is looked up by its keyed hash and its
 * holder marked redeemed (first report wins the date). Unknown, unassigned and malformed lines
 * are reported by number.
 */
export async function importRedemptions(store: CodeStore, options: RedemptionImportOptions): Promise<RedemptionReport> {
  const { redis, keys, auditKey, now, crypto } = store.internals;
  const c = crypto();
  const batchSize = options.batch ?? 500;
  const today = isoDay(epochDay(now()));
  const problemList = lineProblems();
  const problem = problemList.add;
  let redeemed = 0;
  let alreadyRedeemed = 0;
  let pending: { line: number; h: string; date: string }[] = [];

  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const out = await redis.bwCodeRedeem(keys.index, keys.redeemed, keys.generated, keys.poolPrefix, ...batch.flatMap((b) => [b.h, b.date]));
    out.forEach((o, i) => {
      const line = batch[i]?.line ?? 0;
      if (o === 'redeemed') redeemed++;
      else if (o === 'already') alreadyRedeemed++;
      else if (o === 'unassigned') problem(line, 'code was never handed out');
      else problem(line, 'code is not one of ours');
    });
  };

  const { lines, blank, header } = await eachDataLine(options.file, async (n, text) => {
    const [rawCode = '', rawDate = ''] = text.split(',');
    const v = validateCode(rawCode, { check: false });
    if (!v.ok) return problem(n, v.reason);
    let date = today;
    if (rawDate.trim() !== '') {
      try {
        date = isoDay(parseEnrollBy(rawDate, 'redemption date'));
      } catch {
        return problem(n, 'redemption date must be YYYY-MM-DD');
      }
    }
    pending.push({ line: n, h: codeHash(c, v.code), date });
    if (pending.length >= batchSize) await flush();
  });
  await flush();
  const problems = problemList.count;
  const { listed, truncated } = problemList.report();
  await redis.xadd(auditKey, '*', AUDIT_FIELD, auditRecordJson({ type: 'codes.redemptions.imported', actor: options.actor ?? 'operator',
    detail: { lines, redeemed, alreadyRedeemed, problems, blank } }, now()));
  options.log?.info({ lines, redeemed, alreadyRedeemed, problems }, 'redemption feed imported');
  return { lines, header, blank, redeemed, alreadyRedeemed, problems, problemLines: listed, problemsTruncated: truncated };
}
