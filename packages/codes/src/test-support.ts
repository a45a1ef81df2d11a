/**
 * Helpers shared by this package's tests (not exported from the package): temp files of codes,
 * an in-memory logger and a wave with issue-code on.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DEFAULT_ACTION_RULES, generateCode, type CodeSource, type WaveManifest } from '@breachwave/domain';
import type { Ledger } from '@breachwave/ledger';
import { createLogger, type Logger } from '@breachwave/logging';
import { createCodeCrypto, type CodeCrypto } from './store.js';

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'bw-codes-'));
}

export function testPrefix(label: string): string {
  return `${label}${randomBytes(4).toString('hex')}`;
}

export function testCrypto(): CodeCrypto {
  return createCodeCrypto({ keys: [{ id: 'c1', key: randomBytes(32) }], hmacKey: randomBytes(32) });
}

/** Writes lines to a new file and returns its path. */
export function writeLines(lines: readonly string[], name = 'codes.txt'): string {
  const file = join(tempDir(), name);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** `n` fresh valid codes. */
export function freshCodes(n: number): string[] {
  const out = new Set<string>();
  while (out.size < n) out.add(generateCode());
  return [...out];
}

/** A logger whose output stays in memory, redaction on, as in production. */
export function memoryLog(): { log: Logger; text: () => string } {
  const chunks: string[] = [];
  const log = createLogger({ name: 'codes-test', level: 'debug', destination: { write: (s: string) => void chunks.push(s) } });
  return { log, text: () => chunks.join('') };
}

/** `YYYY-MM-DD`, `days` from today (UTC). */
export function dayFromNow(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

/** Creates a wave with issue-code on for every account and the accounts' ledger entries (issue-code → notify). */
export async function seedWave(ledger: Ledger, accountIds: readonly string[], codeSource: CodeSource, enrollBy = dayFromNow(60)): Promise<string> {
  const waveId = `w${randomBytes(4).toString('hex')}`;
  const manifest: WaveManifest = {
    waveId, createdAt: new Date().toISOString(), source: 'test', brand: 'Example', helpUrl: 'https://help.example.com',
    rules: { 'issue-code': DEFAULT_ACTION_RULES['issue-code'] }, codeSource, enrollBy,
  };
  await ledger.createWave(manifest, { rows: accountIds.length, accepted: accountIds.length }, {});
  for (let i = 0; i < accountIds.length; i += 500) {
    await ledger.initAccounts(waveId, 'test', accountIds.slice(i, i + 500).map((accountId) => ({ accountId, actions: ['issue-code', 'notify'] as const })));
  }
  return waveId;
}
