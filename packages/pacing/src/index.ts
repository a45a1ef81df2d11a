/**
 * Distributed pacing: one rate limit per sender (Twilio number or Messaging Service, SMTP relay),
 * in messages per second, shared by every notifier process through Redis, changeable while a wave
 * runs, and the Twilio `ValidityPeriod` that goes with the pace.
 */
export * from './pacer.js';
export * from './validity.js';
export * from './operator.js';
