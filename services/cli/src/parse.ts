import { InvalidArgumentError } from 'commander';

/** Option parsers shared by several commands; they need nothing but commander. */

export const int = (name: string, min: number, max: number) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
  return n;
};

export function parsePinDelivery(v: string): string {
  if (v !== 'none' && v !== 'sms-temporary') throw new InvalidArgumentError('must be none or sms-temporary');
  return v;
}

/** For a repeatable option: every value given, in order. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
