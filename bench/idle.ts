/**
 * Idle cost: the daemon's RSS and open fds with no clients, then with CONNECTIONS idle
 * authenticated WebSocket connections (each signed in with rpc/auth_token on one token from a
 * single rpc/auth, so there are no CONNECTIONS scrypt checks), then after they all closed.
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { startDaemon } from '../test/helpers/daemon.js';
import { MB, RawConn, adminToken, fdCount, fdLimit, memOf, progress, round, settle, sleep, knob } from './lib.js';

/** RSS of a bare Node process doing nothing: the floor an idle daemon is compared with. */
async function bareNodeRss(): Promise<number> {
  const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await sleep(1000);
  const { rss } = await memOf(p.pid!);
  p.kill();
  return rss;
}

const CONNECTIONS = Number(knob('CONNECTIONS', 1000, 200));

// All from 127.0.0.1 and more than the default caps: what is measured is their cost, not the caps.
const d = await startDaemon({ log: { level: 'warn' }, validate_results: false, connections: { max: CONNECTIONS + 50, per_address: CONNECTIONS + 50 } });
const pid = d.proc.pid!;
const conns: RawConn[] = [];
try {
  const limit = await fdLimit(pid);
  if (limit < CONNECTIONS + 50) throw new Error(`fd limit ${limit} too low for ${CONNECTIONS} connections: raise ulimit -n`);
  await settle(pid);
  await sleep(500);
  const idle = await memOf(pid);
  const idleFds = await fdCount(pid);
  progress(`idle: daemon pid ${pid}, RSS ${round(idle.rss / MB, 1)} MB, ${idleFds} fds (limit ${limit})`);

  const bare = await bareNodeRss();

  const token = await adminToken(d.url, d.adminPassword);
  for (let i = 0; i < CONNECTIONS; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, CONNECTIONS - i) }, () => RawConn.open(d.url)));
    await Promise.all(batch.map((c) => c.call('rpc', 'auth_token', { token })));
    conns.push(...batch);
  }
  await settle(pid);
  await sleep(1000);
  const loaded = await memOf(pid);
  const loadedFds = await fdCount(pid);
  progress(`idle: ${CONNECTIONS} connections: RSS ${round(loaded.rss / MB, 1)} MB, ${loadedFds} fds`);

  for (const c of conns.splice(0)) c.ws.close();
  await sleep(1000);
  await settle(pid);
  const closed = await memOf(pid);
  const closedFds = await fdCount(pid);

  console.log(JSON.stringify({
    scenario: 'idle',
    connections: CONNECTIONS,
    fd_limit: limit,
    rss_idle_mb: round(idle.rss / MB, 1),
    rss_bare_node_mb: round(bare / MB, 1),
    ratio_rss_idle_over_bare_node: round(idle.rss / bare),
    fds_idle: idleFds,
    rss_connected_mb: round(loaded.rss / MB, 1),
    fds_connected: loadedFds,
    rss_per_connection_kb: round((loaded.rss - idle.rss) / CONNECTIONS / 1024, 1),
    fds_per_connection: round((loadedFds - idleFds) / CONNECTIONS, 3),
    rss_after_close_mb: round(closed.rss / MB, 1),
    fds_after_close: closedFds,
    rss_peak_mb: round(closed.hwm / MB, 1),
  }));
} finally {
  for (const c of conns) c.close();
  await d.stop();
  await rm(d.stateDir, { recursive: true, force: true });
}
process.exit(0);
