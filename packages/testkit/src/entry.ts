import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/**
 * The `node` arguments that run one of this repository's TypeScript entry points (a service's
 * `main.ts`, the CLI's, a test-only entry such as `test/e2e/faulty/*.ts`, the benchmark's sections)
 * in a child process:
 * - its compiled form, when the test runner (`scripts/run-tests.mjs`) compiled the entry points
 *   once for the run and named the directory in `BW_TEST_ENTRIES` (`<dir>/<path>.mjs`, the same
 *   code bundled with esbuild, npm packages imported from this checkout's node_modules);
 * - otherwise the source through tsx, compiled module by module as it loads (a test file run by
 *   hand, or an entry the runner did not compile).
 * Both run the same code; the compiled one reaches readiness sooner and with less CPU.
 */
export function entryArgs(entry: string): string[] {
  const root = resolve(import.meta.dirname, '..', '..', '..');
  const dir = process.env.BW_TEST_ENTRIES;
  if (dir) {
    const compiled = join(dir, relative(root, resolve(entry)).replace(/\.ts$/, '.mjs'));
    if (existsSync(compiled)) return ['--enable-source-maps', compiled];
  }
  // By URL: a process started in a directory of its own still finds tsx.
  return ['--import', import.meta.resolve('tsx'), entry];
}
