import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { chromium, type BrowserContext } from 'playwright-core';
import { createApiTokenStore } from '@breachwave/access';
import { createActionQueues, type ActionQueues } from '@breachwave/actions';
import { loadConfig, type BreachwaveConfig } from '@breachwave/config';
import { createWave } from '@breachwave/feeder';
import { createLedger, keys as ledgerKeys } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { writeAccountsFile } from '@breachwave/synth';
import { acquireRedis, type TestRedis } from '@breachwave/testkit';
import { runOpsApi, type RunningOpsApi } from './run.js';
import { productionOverrides } from './wire.js';

/**
 * The queue board and the wave overview in a real headless Chromium: a viewer logs in with the
 * form, finds the queues and the wave, sees no contact point of the wave's accounts anywhere and
 * no re-drive button. Debian's chromium (`apt-get install chromium`); without it the suite is
 * skipped, saying so.
 */
const CHROMIUM = process.env.BW_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = resolve(import.meta.dirname, '../../../test-artifacts');
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.error(`\n*** SKIPPED: the browser test needs Chromium at ${CHROMIUM} (apt-get install chromium, or set BW_CHROMIUM) ***\n`);
}

let server: TestRedis;
let redis: Redis;
let config: BreachwaveConfig;
let api: RunningOpsApi;
let wiring: Awaited<ReturnType<typeof productionOverrides>>;
let queues: ActionQueues;
let browser: BrowserContext;
let dir: string;
let userDir: string;
let waveId: string;
let viewerToken: string;
/** The wave's phone numbers and email addresses, as the carrier's file has them. */
const contacts: string[] = [];

describe('ops console in Chromium', { skip: haveChromium ? false : `Chromium not found at ${CHROMIUM}` }, () => {
  before(async () => {
    server = await acquireRedis();
    redis = new Redis(server.url);
    const prefix = `opw${randomBytes(3).toString('hex')}`;
    dir = await mkdtemp(join(tmpdir(), 'bw-board-browser-'));
    config = loadConfig({
      REDIS_URL: server.url, BW_PREFIX: prefix, BW_DATA_DIR: dir, BW_ENVELOPE_KEY: randomBytes(32).toString('base64'),
      BW_HMAC_KEY: randomBytes(32).toString('base64'), BW_OPS_PORT: '0', BW_OPS_HOST: '127.0.0.1',
    });
    const ledger = createLedger({ redis, prefix });
    const file = join(dir, 'accounts.csv');
    await writeAccountsFile(file, { rows: 6, seed: 11, malformedRate: 0, duplicateRate: 0 });
    const csv = await readFile(file, 'utf8');
    // Each phone as written and as its bare digits; each email as written (compared case-blind).
    const [head = '', ...lines] = csv.trim().split('\n');
    const cols = head.split(',');
    for (const line of lines) {
      const cells = line.split(',');
      const phone = cells[cols.indexOf('phone')] ?? '';
      const email = cells[cols.indexOf('email')] ?? '';
      if (phone) contacts.push(phone, phone.replace(/\D/g, '').slice(-10));
      if (email) contacts.push(email.toLowerCase());
    }
    assert.ok(contacts.length >= 6, 'the wave\'s accounts have phones and emails');
    waveId = (await createWave({
      ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: join(dir, 'wave'),
      envelope: createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64))), log: silentLogger(), approvals: 1, actor: 'operator:ana',
    })).waveId;
    // Jobs in the queues, as the feeder makes them: references only.
    queues = createActionQueues({ connection: { url: server.url, maxRetriesPerRequest: null }, prefix, ledger });
    const ids = Object.keys(await redis.hgetall(ledgerKeys(prefix).ledger(waveId)));
    for (const accountId of ids.length > 0 ? ids : ['ACCT-00000001']) await queues.add('notify', { waveId, accountId });
    await redis.hset(ledgerKeys(prefix).counts(waveId), 'notify:failed', 1);
    const store = createApiTokenStore({ redis, prefix, hmacKey: Buffer.from(config.hmacKey, 'base64') });
    viewerToken = (await store.create({ name: 'vic', role: 'viewer', createdBy: 'cli:test' })).token;
    wiring = await productionOverrides(config, silentLogger());
    api = await runOpsApi(config, silentLogger(), { ...wiring.overrides, port: 0 });
    userDir = await mkdtemp(join(tmpdir(), 'bw-chromium-'));
    // A fresh, empty profile (Playwright passes it as --user-data-dir); without the networking
    // flags Chromium keeps trying hosts this machine's closed network refuses.
    browser = await chromium.launchPersistentContext(userDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
  });

  after(async () => {
    await browser?.close();
    await api?.close();
    await wiring?.close();
    await queues?.close();
    await redis?.quit();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
    await rm(userDir, { recursive: true, force: true });
  });

  it('a viewer logs in, finds the queues and the wave, sees no contact data and no re-drive', async () => {
    const page = await browser.newPage();
    const refused: string[] = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) refused.push(m.text()); });
    await page.goto(`${api.url}/waves`);
    assert.match(page.url(), /\/login\?next=%2Fwaves$/, 'sent to the login form');
    await page.fill('input[name=token]', viewerToken);
    await Promise.all([page.waitForURL(`${api.url}/waves`), page.click('button[type=submit]')]);
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'bw_session');
    assert.ok(session?.httpOnly, 'HttpOnly session cookie');
    assert.equal(session?.sameSite, 'Strict');
    assert.ok(!cookies.some((c) => c.value.includes(viewerToken)), 'no cookie carries the token');

    await page.waitForSelector(`section[data-wave="${waveId}"]`);
    const overview = await page.innerText('body');
    assert.ok(overview.includes(waveId));
    assert.match(overview, /done \/ \d+ finished \/ 6 accepted/);
    assert.equal(await page.locator('[data-redrive]').count(), 0, 'a viewer gets no re-drive button');
    // The page's CSP lets no script fetch anything, so the post goes through the context's own
    // request client, with the session cookie.
    const forbidden = await page.request.post(`${api.url}/waves/${waveId}/dlq/retry`, { form: { action: 'notify', reason: 'X' }, maxRedirects: 0 });
    assert.equal(forbidden.status(), 403, 'a viewer\'s re-drive is refused');

    await page.click('nav a:has-text("Queues")');
    await page.waitForURL(/\/queues\/view\/?$/);
    await page.waitForSelector('text=bw-notify', { timeout: 15_000 });
    await page.goto(`${api.url}/queues/view/queue/bw-notify?status=waiting`);
    await page.waitForSelector(`text=${waveId}`, { timeout: 15_000 });
    const board = await page.innerText('body');
    assert.equal(refused.length, 0, `CSP refusals: ${refused.join(' | ')}`);
    await mkdir(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'ops-board-viewer.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
    await page.goto(`${api.url}/waves`);
    const overviewShot = join(ARTIFACTS, 'ops-waves-viewer.png');
    await page.screenshot({ path: overviewShot, fullPage: true });
    console.log(`screenshot: ${overviewShot}`);
    for (const text of [overview, board]) {
      const plain = text.toLowerCase();
      for (const c of contacts) assert.ok(!plain.includes(c.toLowerCase()), `a contact point of the wave is on the page: ${c.slice(0, 3)}…`);
    }
    await page.close();
  });
});
