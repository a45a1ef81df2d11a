import { bootLogLevel } from '@breachwave/config';
import type { Logger } from '@breachwave/logging';

export type Stop = () => Promise<void>;

/** How long a process that could not start waits for its log to be written before it exits anyway. */
const START_FAILURE_GRACE_MS = 500;

export interface LoggerFactory {
  (options: { name: string; level?: string }): Logger;
}

/**
 * The one shutdown path of a process: runs `start`, then on the first SIGTERM
 * or SIGINT calls the returned `stop` (drain workers, close connections) and lets the process
 * exit on its own with `process.exitCode` set; a second signal forces exit. A start-up failure
 * is logged with its code and sets exit code 1 — never `process.exit()` right after logging.
 */
export async function runUntilSignal(name: string, start: (log: Logger) => Promise<Stop>, createLogger: LoggerFactory): Promise<void> {
  // The logger must exist to report a bad configuration, so its level is read first (a bad one
  // gives info, with a warning); the parsed configuration's level replaces it once `start` has
  // loaded it.
  const boot = bootLogLevel();
  const log = createLogger({ name, level: boot.level });
  if (boot.invalid) log.warn({ variable: boot.invalid }, 'unknown log level; using info');
  let stop: Stop;
  try {
    stop = await start(log);
  } catch (err) {
    log.fatal({ err }, `${name} could not start`);
    process.exitCode = 1;
    // Whatever the failed start left open (a Redis client retrying its connection, a timer) must
    // not keep alive a process that could not start: its supervisor would take it for a running
    // one. The timer does not itself keep the process up, so a clean start-up failure exits at once.
    setTimeout(() => process.exit(1), START_FAILURE_GRACE_MS).unref();
    return;
  }
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting without draining');
      process.exit(130);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    stop().then(
      () => {
        process.exitCode = 0;
      },
      (err: unknown) => {
        log.error({ err }, 'error while shutting down');
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
