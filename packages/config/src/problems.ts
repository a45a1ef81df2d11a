import type { z } from 'zod';
import { BreachwaveError } from '@breachwave/domain';
import { variableDocs } from './docs.js';
import { variables, type VariableName } from './variables.js';

export type EnvInput = Readonly<Record<string, string | undefined>>;

/** Longest value quoted back in an error; a pasted file or certificate would bury the message. */
const MAX_QUOTED = 60;

const isVariable = (name: string): name is VariableName => Object.hasOwn(variables, name);

/**
 * One line saying what is wrong with one variable: missing (with an example of a right value), or
 * not a right value (what a right one is, and what was given unless the variable is a secret).
 */
export function describeProblem(name: string, value: string | undefined, detail?: string): string {
  if (!isVariable(name)) return `${name}: ${detail ?? 'invalid'}`;
  const { expects } = variables[name];
  const doc = variableDocs[name];
  if (value === undefined) return `${name} is missing: ${expects} (e.g. ${doc.example})`;
  const quoted = value.length > MAX_QUOTED ? `${JSON.stringify(value.slice(0, MAX_QUOTED))}…` : JSON.stringify(value);
  return `${name} must be ${expects}${detail ? ` (${detail})` : ''}${doc.secret ? '' : `, got ${quoted}`}`;
}

/** One line per bad variable, in the order of the zod issues; custom issues (key rings) keep their own detail. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], env: EnvInput): string[] {
  const byName = new Map<string, string[]>();
  for (const issue of issues) {
    const name = String(issue.path[0] ?? '');
    const details = byName.get(name) ?? [];
    // Only the key-ring parser's issues carry a detail worth showing (which entry is wrong, by id).
    if (issue.code === 'custom' && issue.params?.['detail'] === true) details.push(issue.message);
    byName.set(name, details);
  }
  return [...byName].map(([name, details]) => describeProblem(name, env[name], details.length ? details.join('; ') : undefined));
}

/** The one error a loader throws, listing every problem at once: one line each in `detail`. */
export function configError(problems: readonly string[]): BreachwaveError {
  return new BreachwaveError('BW_CONFIG_INVALID', { detail: problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}` });
}

/** Empty values count as unset, so a copied `.env.example` with blank secrets means "not configured". */
export function withoutEmpty(env: EnvInput): EnvInput {
  return Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
}
