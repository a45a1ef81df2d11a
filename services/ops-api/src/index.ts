export * from './run.js';
export * from './wire.js';
export * from './control.js';
