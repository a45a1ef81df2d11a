/**
 * The providers of an end-to-end section, in their own process so their CPU is not charged to the
 * orchestrator's event loop: the Twilio-compatible server (with `latencyMs` before every answer)
 * and the SMTP sink. Prints `{ twilio: {url, accountSid, authToken}, smtpPort }` once listening;
 * on SIGTERM prints `{ sms, email }` (messages accepted) and exits.
 *
 * Params: { latencyMs }. Recorded messages are counted and forgotten every 500 ms, so a long run
 * does not grow this process.
 */
import { startSmtpSink, startTwilioServer } from '@breachwave/testkit';
import { childParams, emit } from './common.js';

const { latencyMs } = childParams<{ latencyMs: number }>();
const twilio = await startTwilioServer({ latencyMs });
const smtp = await startSmtpSink();
let sms = 0;
let email = 0;
const collect = (): void => {
  // Read and forget in one tick: nothing can arrive in between.
  sms += twilio.messages.length;
  email += smtp.messages.length;
  twilio.reset();
  smtp.reset();
};
const timer = setInterval(collect, 500);
emit({ twilio: { url: twilio.url, accountSid: twilio.accountSid, authToken: twilio.authToken }, smtpPort: smtp.port });
process.once('SIGTERM', () => {
  clearInterval(timer);
  collect();
  void Promise.all([twilio.close(), smtp.close()]).then(() => emit({ sms, email }));
});
