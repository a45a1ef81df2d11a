import { bootLogLevel, loadConfig, type BreachwaveConfig } from '@breachwave/config';
import type { Logger } from '@breachwave/logging';

export type Stop = () => Promise<void>;

/** One thing a process opens and must let go of at shutdown: a worker, a connection, a server. */
export interface Closable {
  /** What it is, in the shutdown log (`worker`, `redis`, `metrics server`). */
  readonly name: string;
  close(): Promise<void> | void;
}

/** One close that failed, with what it was closing. */
export interface CloseFailure {
  readonly resource: string;
  readonly error: unknown;
}

/**
 * Some resources failed to close (see {@link closeInOrder}); every other one was closed all the
 * same. `errors` holds each failure's own error, `failures` which resource each came from.
 */
export class ShutdownError extends AggregateError {
  override readonly name = 'ShutdownError';
  constructor(readonly failures: readonly CloseFailure[]) {
    super(failures.map((f) => f.error), `${failures.length} of the resources failed to close: ${failures.map((f) => f.resource).join(', ')}`);
  }
}

/**
 * Closes each resource in turn, in the order given, and goes on past one that throws: a worker
 * whose close fails must not leave the Redis connections after it open (the process would then
 * never exit by itself). Resolves when every close succeeded; otherwise rejects, once all were
 * tried, with a {@link ShutdownError} naming each failure. Logs nothing: the caller's shutdown
 * path does, once per failure.
 */
export async function closeInOrder(resources: readonly Closable[]): Promise<void> {
  const failures: CloseFailure[] = [];
  for (const r of resources) {
    try {
      await r.close();
    } catch (error) {
      failures.push({ resource: r.name, error });
    }
  }
  if (failures.length > 0) throw new ShutdownError(failures);
}

/** The failures a stop reported: each of a {@link ShutdownError}'s, else the one error. */
function failuresOf(err: unknown): readonly Partial<CloseFailure>[] {
  return err instanceof ShutdownError ? err.failures : [{ error: err }];
}

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
  // The handlers go in before the start: a signal that arrives while it runs (after its "started"
  // line, say) stops the process once it has started, instead of killing it undrained.
  let stop: Stop | undefined;
  let pending: NodeJS.Signals | undefined;
  let stopping = false;
  const shutDown = (run: Stop, signal: NodeJS.Signals): void => {
    stopping = true;
    log.info({ signal }, 'shutting down');
    run().then(
      () => {
        process.exitCode = 0;
      },
      (err: unknown) => {
        // Each failed close once, with what it was closing; the others were closed all the same.
        for (const f of failuresOf(err)) log.error({ err: f.error, ...(f.resource ? { resource: f.resource } : {}) }, 'error while shutting down');
        process.exitCode = 1;
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping || pending) {
      log.warn({ signal }, 'second signal: exiting without draining');
      process.exit(130);
    }
    if (stop) shutDown(stop, signal);
    else pending = signal;
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
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
  if (pending) shutDown(stop, pending);
}

/**
 * The main of a process that runs one service on the whole configuration: loads it from the
 * environment, applies its log level, starts the service and closes it on the first signal
 * (through {@link runUntilSignal}: a failed start or stop exits 1).
 */
export function runServiceUntilSignal(name: string, run: (config: BreachwaveConfig, log: Logger) => Promise<{ close(): Promise<void> }>, createLogger: LoggerFactory): Promise<void> {
  return runUntilSignal(name, async (log) => {
    const config = loadConfig();
    log.level = config.logLevel;
    const service = await run(config, log);
    return () => service.close();
  }, createLogger);
}
