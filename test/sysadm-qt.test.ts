import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, privateEncrypt } from 'node:crypto';
import WebSocket from 'ws';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { selfSignedCert } from './helpers/tls.js';
import { LOOPBACK, startIsoServer, type IsoServer } from './helpers/servers.js';
import { waitFor } from './helpers/wait.js';

/**
 * A client that behaves as sysadm-ui-qt's core does (Core/sysadm-client.cpp): a QWebSocket made
 * with origin "sysadm-client" over wss, its own request ids, `identify` with the args "", `auth`,
 * the subscriptions it makes at sign-in, and the iohyve page's requests. It is written from the
 * frames that client sends, not with hyved's own client, so nothing of ours smooths the way.
 */
class QtLikeClient {
  private n = 0;
  private readonly replies = new Map<string, (f: Frame) => void>();
  readonly events: Frame[] = [];

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as Frame;
      if (f.namespace === 'events' && f.id === '') this.events.push(f);
      else this.replies.get(String(f.id))?.(f);
    });
  }

  static open(url: string, ca: Buffer): Promise<QtLikeClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url.replace(/^https/, 'wss'), { origin: 'sysadm-client', ca });
      ws.once('open', () => resolve(new QtLikeClient(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  /** Sends one frame as the Qt core does (id: a fresh string) and resolves with its reply frame. */
  send(namespace: string, name: string, args: unknown): Promise<Frame> {
    const id = `qt-${++this.n}-${Math.random().toString(36).slice(2, 8)}`;
    return new Promise((resolve) => {
      this.replies.set(id, resolve);
      this.ws.send(JSON.stringify({ namespace, name, id, args }));
    });
  }

  close(): void {
    this.ws.close();
  }
}

interface Frame { namespace: string; name: string; id: string; args: any }

const daemons: TestDaemon[] = [];
let web: IsoServer | undefined;
after(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await web?.close();
});

test("the Qt client's sequence over wss: native Origin, identify \"\", auth, its subscriptions, the iohyve page, a fetch with progress, key registration and key sign-in", async () => {
  const { cert, key, ca } = await selfSignedCert();
  const d = await startDaemon({ tls: { cert, key }, iso: { allow_private: LOOPBACK } });
  daemons.push(d);
  web = await startIsoServer();
  const qt = await QtLikeClient.open(d.url, ca);

  const who = await qt.send('rpc', 'identify', '');
  assert.equal(who.name, 'response');
  assert.equal(who.args.type, 'server');

  // The core sends its first request right behind auth; the barrier makes it run signed in.
  const [auth, query] = await Promise.all([qt.send('rpc', 'auth', { username: 'admin', password: d.adminPassword }), qt.send('rpc', 'query', {})]);
  assert.equal(auth.name, 'response');
  assert.match(auth.args[0], /^[0-9a-f]+$/);
  assert.equal(query.args['sysadm/iohyve'], 'read/write');

  const sub = await qt.send('events', 'subscribe', 'system-state');
  assert.equal(sub.name, 'response', JSON.stringify(sub.args));
  assert.deepEqual(sub.args.ignored, ['system-state']);
  assert.equal((await qt.send('events', 'subscribe', 'dispatcher')).name, 'response');

  // page_iohyve: is iohyve set up, then the guests and ISOs.
  assert.deepEqual((await qt.send('sysadm', 'iohyve', { action: 'issetup' })).args, { issetup: { setup: 'true' } });
  assert.deepEqual((await qt.send('sysadm', 'iohyve', { action: 'listvms' })).args, { listvms: {} });
  const fetched = await qt.send('sysadm', 'iohyve', { action: 'fetchiso', url: `${web.url}/big.iso` });
  assert.equal(fetched.name, 'response', JSON.stringify(fetched.args));
  const queueid = fetched.args.fetchiso.queueid as string;
  const done = await waitFor(
    () => qt.events.find((e) => e.name === 'dispatcher' && e.args.process_id === queueid && e.args.state === 'finished'),
    'the fetch to finish',
    30_000,
  );
  assert.equal(done.args.result, 'success');
  const progress = qt.events.filter((e) => e.name === 'dispatcher' && e.args.process_id === queueid);
  // The GUI reads these with toString(): strings, never numbers.
  for (const e of progress) assert.equal(typeof e.args.percent_done, 'string', JSON.stringify(e.args));
  assert.equal(done.args.percent_done, '100%');
  const isos = await qt.send('sysadm', 'iohyve', { action: 'listisos' });
  assert.ok(isos.args.listisos.includes('big.iso'), JSON.stringify(isos.args));

  // Key sign-in, as the core does for any host but localhost: register the public key over the
  // password session, then a new connection signs in with the key alone.
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const registered = await qt.send('rpc', 'settings', { action: 'register_ssl_cert', pub_key: Buffer.from(pem).toString('base64'), nickname: 'qt-test' });
  assert.equal(registered.name, 'response', JSON.stringify(registered.args));
  qt.close();

  const second = await QtLikeClient.open(d.url, ca);
  const challenge = await second.send('rpc', 'auth_ssl', '');
  assert.equal(challenge.name, 'response', JSON.stringify(challenge.args));
  const encrypted = privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(challenge.args.test_string)).toString('base64');
  const [signedIn, listed] = await Promise.all([
    second.send('rpc', 'auth_ssl', { encrypted_string: encrypted }),
    second.send('sysadm', 'iohyve', { action: 'listisos' }),
  ]);
  assert.equal(signedIn.name, 'response', JSON.stringify(signedIn.args));
  assert.match(signedIn.args[0], /^[0-9a-f]+$/);
  assert.equal(listed.name, 'response', 'the request right behind auth_ssl runs signed in');
  second.close();
});
