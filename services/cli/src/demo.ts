import { BreachwaveError } from '@breachwave/domain';
import type { DemoOptions, demo as runDemo } from '@breachwave/demo-service';
import { createProgress } from './progress.js';

/**
 * `breachwave demo`. The demo lives in its own service (`services/demo`) because it starts the test
 * kit's Twilio-compatible server, SMTP sink and Redis container; the CLI has it only as a
 * development dependency and loads it when the command runs, so a production install (and the
 * compiled build, which leaves it out) carries neither the test kit nor testcontainers nor
 * smtp-server. There, the command says so instead of failing on a missing module.
 */
export async function demo(opts: DemoOptions): Promise<void> {
  let loaded: { demo: typeof runDemo };
  try {
    loaded = await import('@breachwave/demo-service');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException | undefined)?.code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes('@breachwave/demo-service');
    if (!missing) throw err;
    throw new BreachwaveError('BW_CONFIG_INVALID', {
      detail: 'breachwave demo is not part of this installation: a production build leaves out the test servers it runs; run ./scripts/demo.sh in a source checkout',
    });
  }
  await loaded.demo(opts, { createProgress: (label) => createProgress(label, process.stderr) });
}
