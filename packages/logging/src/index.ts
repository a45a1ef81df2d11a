import { pino, type Bindings, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths redacted by default: secrets (PIN, code, tokens, keys) and contact points. Redaction is
 * the last line of defence — code should not log these at all — so it is on unless a caller
 * passes `redact: false` explicitly (tests of the redaction itself).
 */
export const REDACT_PATHS: readonly string[] = (() => {
  const fields = [
    // Not `code` or `name`: those are error codes and logger/error names, which must stay readable.
    'pin', 'newPin', 'oldPin', 'temporaryPin', 'enrollmentCode', 'activationCode', 'ssn', 'phone', 'email', 'to',
    'fullName', 'contact', 'body', 'text', 'html', 'token', 'authToken', 'password', 'pass', 'apiKey', 'secret', 'key',
    'authorization', 'Authorization', 'cookie',
  ];
  return [...fields, ...fields.map((f) => `*.${f}`), ...fields.map((f) => `*.*.${f}`), 'req.headers.authorization', 'err.config'];
})();

export interface LoggerFactoryOptions {
  readonly name: string;
  readonly level?: string;
  readonly destination?: DestinationStream;
  /** Default true. */
  readonly redact?: boolean;
  readonly base?: Record<string, unknown>;
}

/** Creates the process's root logger. Inject it; create child loggers per job or request. */
export function createLogger(options: LoggerFactoryOptions): Logger {
  const opts: LoggerOptions = {
    name: options.name,
    level: options.level ?? 'info',
    base: { service: options.name, pid: process.pid, ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: pino.stdSerializers.err },
    ...(options.redact === false ? {} : { redact: { paths: [...REDACT_PATHS], censor: '[redacted]' } }),
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}

/** A logger that writes nothing, for library callers that do not pass one. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

const LEVEL_METHODS: ReadonlySet<string> = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);
const noop = (): void => {};

/**
 * A child logger made only when something is logged through it: a per-job logger for hot paths.
 * pino serialises (and redacts) a child's bindings when the child is made, which costs more than
 * most jobs ever log; through this, a call at a disabled level costs a level check, and the child
 * is made once, on the first enabled call or any other use.
 */
export function childOnDemand(parent: Logger, bindings: Bindings): Logger {
  let child: Logger | undefined;
  const made = (): Logger => (child ??= parent.child(bindings));
  return new Proxy(parent, {
    get(_target, prop) {
      if (child === undefined && typeof prop === 'string' && LEVEL_METHODS.has(prop) && !parent.isLevelEnabled(prop)) return noop;
      const c = made();
      const value: unknown = Reflect.get(c, prop, c);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(c) : value;
    },
    // Writes (e.g. `log.level = 'debug'`) go to the child, never to the shared parent.
    set(_target, prop, value) {
      return Reflect.set(made(), prop, value);
    },
  });
}
