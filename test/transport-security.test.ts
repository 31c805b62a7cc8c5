import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { HyvedClient } from '../src/client/client.js';
import { RawSocket } from './helpers/raw.js';
import { selfSignedCert } from './helpers/tls.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';

const daemons: TestDaemon[] = [];
after(() => Promise.all(daemons.map((d) => d.stop())));

test('a WebSocket upgrade from a foreign browser Origin is refused; own and listed origins pass', async () => {
  const d = await startDaemon({ origins: ['https://dash.example.org'] });
  daemons.push(d);
  const port = new URL(d.url).port;
  await assert.rejects(RawSocket.open(d.url, { Origin: 'https://evil.example.com' }), (e: { status: number }) => e.status === 403);
  // DNS rebinding: a foreign name pointing at us still has a foreign origin.
  await assert.rejects(RawSocket.open(d.url, { Origin: `http://rebind.example.com:${port}` }), (e: { status: number }) => e.status === 403);
  await assert.rejects(RawSocket.open(d.url, { Origin: 'null' }), (e: { status: number }) => e.status === 403);
  for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`, 'https://dash.example.org']) {
    const s = await RawSocket.open(d.url, { Origin: origin });
    assert.equal((await s.request('rpc', 'identify', {})).name, 'response', origin);
    s.close();
  }
  // Scripts send no Origin at all.
  const plain = await RawSocket.open(d.url);
  plain.close();
  // Native clients may send a non-web Origin, which no web page can: QWebSocket("sysadm-client").
  const qt = await RawSocket.open(d.url, { Origin: 'sysadm-client' });
  assert.equal((await qt.request('rpc', 'identify', {})).name, 'response');
  qt.close();
  await assert.rejects(RawSocket.open(d.url, { Origin: 'chrome-extension://abcdef' }), (e: { status: number }) => e.status === 403, 'any scheme:// is a web origin');
  assert.match(d.output(), /refused WebSocket .* origin "https:\/\/evil.example.com" not allowed/);
});

test('origins may list null or any string, for pages a browser serves from file: or sandboxed frames', async () => {
  const d = await startDaemon({ origins: ['null'] });
  daemons.push(d);
  const s = await RawSocket.open(d.url, { Origin: 'null' });
  assert.equal((await s.request('rpc', 'identify', {})).name, 'response');
  s.close();
});

test('tls.cert and tls.key switch the port to https and wss', async () => {
  const { cert, key, ca } = await selfSignedCert();
  const d = await startDaemon({ tls: { cert, key } });
  daemons.push(d);
  assert.match(d.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const c = await HyvedClient.connect(d.url, { ca });
  assert.ok(c.ws.url.startsWith('wss://'));
  await c.login('admin', d.adminPassword);
  assert.ok(Array.isArray((await c.call<{ host_nics: unknown[] }>('sysadm', 'nic', { action: 'list' })).host_nics));
  c.close();
  const status = await new Promise<number>((resolve, reject) =>
    https.get(`${d.url}/healthz`, { ca }, (res) => resolve(res.statusCode ?? 0)).on('error', reject),
  );
  assert.equal(status, 200);
  // Plain HTTP to the TLS port gets nowhere.
  await assert.rejects(fetch(d.url.replace('https', 'http') + '/healthz'));
});

test('idle connections are closed after ws_idle_timeout_s', async () => {
  const d = await startDaemon({ ws_idle_timeout_s: 1 });
  daemons.push(d);
  const s = await RawSocket.open(d.url);
  const started = Date.now();
  const closed = await s.waitClosed(5000);
  assert.equal(closed.code, 4000);
  assert.ok(Date.now() - started >= 900);
});
