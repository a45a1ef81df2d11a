export { runFeeder, type RunFeederDeps } from './run.js';
