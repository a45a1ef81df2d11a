import { once } from 'node:events';
import { createServer } from 'node:net';

/**
 * A TCP port free on loopback right now: bound to port 0, read, released. Another process may
 * take it before the caller binds it; tests that start servers of their own accept that race.
 */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  srv.close();
  await once(srv, 'close');
  return port;
}
