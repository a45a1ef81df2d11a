import { verifyAuditFiles } from '@breachwave/audit';

export async function auditVerify(files: string[], opts: { json?: boolean }): Promise<void> {
  const result = await verifyAuditFiles(files);
  if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else if (result.ok) process.stdout.write(`audit chain OK: ${result.records} records in ${result.files} file(s), last hash ${result.lastHash}\n`);
  else process.stdout.write(`audit chain BROKEN at ${result.file}:${result.line}${result.seq !== undefined ? ` (seq ${result.seq})` : ''}: ${result.reason}\n`);
  if (!result.ok) process.exitCode = 1;
}
