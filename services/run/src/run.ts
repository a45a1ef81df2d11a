/**
 * The production entry point: `node dist/run.js PROCESS [ARGS…]` starts one breachwave process —
 * `notifier`, `pin-rotator`, `code-issuer`, `audit-writer`, `feeder WAVE_ID`, `ops-api`, or
 * `breachwave` followed by the CLI's arguments. The process then sees the arguments after its name
 * as its own (`process.argv[2]` onwards), as when its `main` is run directly. Anything else prints
 * the list and exits 2.
 */
import { PROCESSES, isProcessName } from './processes.js';

const name = process.argv[2];
if (!isProcessName(name)) {
  process.stderr.write(`${name === undefined ? 'no process named' : `unknown process "${name}"`}; usage: run.js PROCESS [ARGS…], PROCESS one of:\n${Object.keys(PROCESSES).map((p) => `  ${p}\n`).join('')}`);
  process.exitCode = 2;
} else {
  process.argv.splice(2, 1);
  await PROCESSES[name]();
}
