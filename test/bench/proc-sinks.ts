/**
 * The providers of an end-to-end section, in their own process so their CPU is not charged to the
 * orchestrator's event loop: the Twilio-compatible server (with `latencyMs` before every answer)
 * and the SMTP sink. Prints `{ twilio: {url, accountSid, authToken}, smtpPort }` once listening;
 * on SIGTERM prints `{ sms, email }` (messages accepted) and exits.
 *
 * Params: { latencyMs, then? }. Recorded messages are counted and forgotten every 500 ms, so a
 * long run does not grow this process.
 *
 * `then` (smoke runs: several end-to-end runs through one notifier and one set of providers) lists
 * the latencies of the runs after the first, in order. One Twilio-compatible server is started per
 * latency, and the address printed is a front that passes each request on to the current run's;
 * SIGUSR2, once a run is over, prints `{ sms, email }` so far (all servers together) and moves the
 * front on to the next run's server.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startSmtpSink, startTwilioServer } from '@breachwave/testkit';
import { childParams, emit } from './common.js';

const { latencyMs, then } = childParams<{ latencyMs: number; then?: readonly number[] }>();
const twilio = await startTwilioServer({ latencyMs });
const sequence = [latencyMs, ...(then ?? [])];
const byLatency = new Map([[latencyMs, twilio]]);
for (const ms of sequence) {
  if (!byLatency.has(ms)) byLatency.set(ms, await startTwilioServer({ latencyMs: ms, accountSid: twilio.accountSid, authToken: twilio.authToken }));
}
const servers = [...byLatency.values()];
let current = 0;
const front = then ? await startFront(() => (byLatency.get(sequence[current] as number) ?? twilio).url) : undefined;
const smtp = await startSmtpSink();
let sms = 0;
let email = 0;
const collect = (): void => {
  // Read and forget in one tick: nothing can arrive in between.
  for (const server of servers) {
    sms += server.messages.length;
    server.reset();
  }
  email += smtp.messages.length;
  smtp.reset();
};
const timer = setInterval(collect, 500);
emit({ twilio: { url: front?.url ?? twilio.url, accountSid: twilio.accountSid, authToken: twilio.authToken }, smtpPort: smtp.port });
if (then) {
  process.on('SIGUSR2', () => {
    collect();
    emit({ sms, email });
    current = Math.min(current + 1, sequence.length - 1);
  });
}
process.once('SIGTERM', () => {
  clearInterval(timer);
  collect();
  void Promise.all([front?.close(), ...servers.map((server) => server.close()), smtp.close()]).then(() => emit({ sms, email }));
});

/** An HTTP server passing every request on, as it came, to `upstream()` and its answer back. */
async function startFront(upstream: () => string): Promise<{ url: string; close(): Promise<void> }> {
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const onward = http.request(new URL(req.url ?? '/', upstream()), { method: req.method, headers: req.headers, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    onward.on('error', () => res.destroy());
    req.pipe(onward);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      agent.destroy();
    }),
  };
}
