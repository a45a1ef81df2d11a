/**
 * End-to-end harness: real Redis (testcontainers or REDIS_URL), the SMTP sink, the
 * Twilio-compatible server driven by the real twilio SDK, notifier processes spawned as the
 * deployment runs them, and helpers to scan every place PII could leak to.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import { chooseChannel, firstNameOf, parseAccountRow, renderNotice, type AffectedAccount, type WaveManifest } from '@breachwave/domain';
import { generateKey } from '@breachwave/secrets';
import {
  acquireRedis, entryArgs, startSmtpSink, startTwilioServer,
  type SmtpSink, type SmtpSinkOptions, type TestRedis, type TwilioServer, type TwilioServerOptions,
} from '@breachwave/testkit';

export { dumpRedis, keysHolding } from '@breachwave/testkit';

export const ROOT = resolve(import.meta.dirname, '..', '..');

/** What an e2e file runs against: a Redis, a client on it, the Twilio-compatible server and the SMTP sink. */
export interface World {
  readonly server: TestRedis;
  readonly redis: Redis;
  readonly twilio: TwilioServer;
  readonly smtp: SmtpSink;
}

/**
 * Registers `before`/`after` hooks (node:test) that start a Redis, a client on it, the Twilio
 * server and the SMTP sink for the file's tests, and close them all afterwards. Read the parts
 * inside a test (or a later hook): before the `before` hook ran, they throw.
 */
export function useWorld(options: { twilio?: TwilioServerOptions; smtp?: SmtpSinkOptions } = {}): World {
  let server: TestRedis | undefined;
  let redis: Redis | undefined;
  let twilio: TwilioServer | undefined;
  let smtp: SmtpSink | undefined;
  before(async () => {
    server = await acquireRedis();
    redis = new Redis(server.url);
    twilio = await startTwilioServer(options.twilio);
    smtp = await startSmtpSink(options.smtp);
  });
  after(async () => {
    await twilio?.close();
    await smtp?.close();
    await redis?.quit();
    await server?.stop();
  });
  const started = <T>(value: T | undefined, name: keyof World): T => {
    if (value === undefined) throw new Error(`useWorld(): world.${name} is not started yet; read it inside a test, after the before() hook ran`);
    return value;
  };
  return {
    get server() { return started(server, 'server'); },
    get redis() { return started(redis, 'redis'); },
    get twilio() { return started(twilio, 'twilio'); },
    get smtp() { return started(smtp, 'smtp'); },
  };
}

export function tempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `bw-${label}-`));
}

/** Environment for breachwave processes pointed at the test's Redis and sinks. */
export function serviceEnv(o: { redisUrl: string; prefix: string; dataDir: string; twilio: TwilioServer; smtp: SmtpSink; keys?: { envelope: string; hmac: string } }): Record<string, string> {
  const keys = o.keys ?? { envelope: generateKey(), hmac: generateKey() };
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    REDIS_URL: o.redisUrl,
    BW_PREFIX: o.prefix,
    BW_DATA_DIR: o.dataDir,
    BW_ENVELOPE_KEY: keys.envelope,
    BW_HMAC_KEY: keys.hmac,
    TWILIO_ACCOUNT_SID: o.twilio.accountSid,
    TWILIO_AUTH_TOKEN: o.twilio.authToken,
    TWILIO_BASE_URL: o.twilio.url,
    TWILIO_FROM: '+15005550006',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(o.smtp.port),
    LOG_LEVEL: 'info',
  };
}

export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Spawns a service's main.ts as `node` runs it (compiled for the run by the test runner, or
 * through tsx: `entryArgs`), its stdout/stderr (pino) into a log file.
 */
export function spawnService(service: string, env: Record<string, string>, logDir: string, label = service, args: readonly string[] = []): ServiceProcess {
  return spawnEntry(join(ROOT, 'services', service, 'src', 'main.ts'), env, logDir, label, args);
}

/**
 * Spawns a service with a crash point (`test/e2e/faulty/<service>.ts`: the service's composition
 * root wrapped to SIGKILL itself, e.g. `--crash-at=before-store --crash-after=3`).
 */
export function spawnFaulty(service: 'pin-rotator' | 'code-issuer', env: Record<string, string>, logDir: string, label: string, args: readonly string[]): ServiceProcess {
  return spawnEntry(join(ROOT, 'test', 'e2e', 'faulty', `${service}.ts`), env, logDir, label, args);
}

function spawnEntry(entry: string, env: Record<string, string>, logDir: string, label: string, args: readonly string[]): ServiceProcess {
  const logFile = join(logDir, `${label}-${randomBytes(3).toString('hex')}.log`);
  const out = createWriteStream(logFile);
  const child = spawn(process.execPath, [...entryArgs(entry), ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  // 'close' (not 'exit'): its output has been read to the end, and is in the file when this resolves.
  const exited = new Promise<number | null>((res) => child.once('close', (code, signal) => {
    out.end(() => res(code ?? (signal ? 128 : null)));
  }));
  return {
    child,
    logFile,
    exited,
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Waits until a spawned service logs `marker` (e.g. 'notifier started'). The default bound is
 * generous: a start takes tens of seconds on a loaded 2-core machine (more through tsx, which
 * compiles the service as it loads); the bound exists to fail a process that never gets there,
 * not to time it.
 */
export async function waitForLog(proc: ServiceProcess, marker: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let text = '';
    try {
      text = readFileSync(proc.logFile, 'utf8');
    } catch {
      // not created yet
    }
    if (text.includes(marker)) return;
    if (proc.child.exitCode !== null) throw new Error(`${proc.logFile}: process exited (${proc.child.exitCode}) before logging "${marker}":\n${text.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for "${marker}" in ${proc.logFile}`);
}

/** Accepted accounts of a file as the feeder must see them: parsed, first occurrence of each id. */
export function expectedAccounts(csvText: string): Map<string, AffectedAccount> {
  const lines = csvText.split('\n').filter((l) => l.trim() !== '');
  const header = (lines.shift() ?? '').split(',').map((h) => h.trim());
  const out = new Map<string, AffectedAccount>();
  for (const line of lines) {
    const cells = splitCsv(line);
    if (cells.length !== header.length) continue;
    const row = Object.fromEntries(header.map((h, i) => [h, cells[i]]));
    const r = parseAccountRow(row);
    if (r.ok && !out.has(r.account.accountId)) out.set(r.account.accountId, r.account);
  }
  return out;
}

function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { cur += '"'; i++; }
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { out.push(cur); cur = ''; }
    else if (c !== '\r') cur += c;
  }
  out.push(cur);
  return out;
}

/** The notice each account must receive: channel, recipient and exact content. */
export function expectedNotice(a: AffectedAccount, manifest: Pick<WaveManifest, 'brand' | 'helpUrl'>): { channel: 'sms' | 'email'; to: string; content: string } {
  const channel = chooseChannel(a);
  if (!channel) throw new Error(`account ${a.accountId} has no channel`);
  const n = renderNotice(channel, a.locale, { brand: manifest.brand, helpUrl: manifest.helpUrl, exposed: a.exposed, ...(a.name ? { firstName: firstNameOf(a.name) } : {}) });
  if (n.channel === 'sms') return { channel, to: a.phone ?? '', content: n.body };
  return { channel, to: a.email ?? '', content: `${n.subject}\n${n.text}` };
}

/** Forms in which a contact point could leak: E.164, bare national digits, the email. */
export function leakForms(a: AffectedAccount): string[] {
  const forms: string[] = [];
  if (a.phone) forms.push(a.phone, a.phone.replace(/^\+1/, ''));
  if (a.email) forms.push(a.email);
  return forms;
}

export function readDir(dir: string): string {
  return readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
}
