import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@breachwave/logging';

/** A debug-level logger whose output (pino's JSON lines) the test reads back. */
export function captureLog(name = 'test'): { log: Logger; text: () => string; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const text = (): string => chunks.join('');
  return {
    log: createLogger({ name, level: 'debug', destination }),
    text,
    lines: () => text().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
