import type { Logger } from '@breachwave/logging';

export type Stop = () => Promise<void>;

export interface LoggerFactory {
  (options: { name: string; level?: string }): Logger;
}

/**
 * The one shutdown path of a process (GUIDE §4 rule 8): runs `start`, then on the first SIGTERM
 * or SIGINT calls the returned `stop` (drain workers, close connections) and lets the process
 * exit on its own with `process.exitCode` set; a second signal forces exit. A start-up failure
 * is logged with its code and sets exit code 1 — never `process.exit()` right after logging.
 */
export async function runUntilSignal(name: string, start: (log: Logger) => Promise<Stop>, createLogger: LoggerFactory): Promise<void> {
  const wanted = process.env.LOG_LEVEL ?? 'info';
  const valid = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(wanted);
  const log = createLogger({ name, level: valid ? wanted : 'info' });
  if (!valid) log.warn({ variable: 'LOG_LEVEL' }, 'unknown log level; using info');
  let stop: Stop;
  try {
    stop = await start(log);
  } catch (err) {
    log.fatal({ err }, `${name} could not start`);
    process.exitCode = 1;
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
