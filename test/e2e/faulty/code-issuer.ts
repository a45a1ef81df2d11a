/**
 * The code-issuer with a crash point, for the kill drills: the real composition root
 * (`runCodeIssuer`) that SIGKILLs itself right after its Nth code allocation is stored in Redis
 * and before the ledger records it.
 *   node --import tsx test/e2e/faulty/code-issuer.ts --crash-after=N
 */
import { loadConfig } from '@breachwave/config';
import { createLogger } from '@breachwave/logging';
import { runUntilSignal } from '@breachwave/lifecycle';
import { runCodeIssuer } from '@breachwave/code-issuer-service';
import { crashArgs, crashOnCall } from '@breachwave/testkit';

const crash = crashArgs(process.argv.slice(2), ['after-allocation'] as const);

await runUntilSignal('code-issuer', async (log) => {
  const config = loadConfig();
  log.level = config.logLevel;
  log.warn({ crashAt: crash?.at, after: crash?.after }, 'fault injection is ON: this process will SIGKILL itself');
  const issuer = await runCodeIssuer(config, log, crash ? { onAllocated: crashOnCall(crash.after) } : {});
  return () => issuer.close();
}, createLogger);
