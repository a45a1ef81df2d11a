export * from './run.js';
export * from './wire.js';
