export * from './errors.js';
export * from './ports.js';
export * from './account.js';
export * from './templates.js';
export * from './wave.js';
export * from './pin.js';
export * from './code.js';
export * from './sms.js';
