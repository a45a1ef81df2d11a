/**
 * Quiet hours: SMS waits until the recipient's local window (TCPA 08:00–21:00, stricter per-state
 * rules), in the account's zone, else the phone's area code zone, else the wave's default.
 * Pure functions; the caller supplies the clock.
 */
export * from './area-codes.js';
export * from './windows.js';
export * from './zone.js';
export * from './clock.js';
export * from './plan.js';
