import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { AgentUnavailable } from '../../src/hypervisor/agent.js';
import { MAX_OUTPUT, QemuGuestAgent } from '../../src/hypervisor/qemu/agent.js';

// The framing of the agent client against a small fake qemu-ga on a unix socket; the real agent
// in a real guest is exercised by test/guest-agent.test.ts.

type Msg = { execute: string; arguments?: Record<string, unknown> };
/** Answers one command: a line (or raw bytes) to send back, or nothing to stay silent. */
type Peer = (msg: Msg, conn: net.Socket) => string | Buffer | undefined;

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function fakeAgent(peer: Peer, onConnect?: (conn: net.Socket) => void) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hyved-qga-'));
  dirs.push(dir);
  const file = path.join(dir, 'qga.sock');
  const seen: string[] = [];
  let connections = 0;
  let closes = 0;
  const open = new Set<net.Socket>();
  const server = net.createServer((conn) => {
    connections++;
    open.add(conn);
    conn.on('close', () => open.delete(conn));
    conn.on('close', () => closes++);
    onConnect?.(conn);
    let buf = '';
    conn.on('data', (d) => {
      buf += d.toString('latin1').replace(/\xff/g, '');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as Msg;
        buf = buf.slice(nl + 1);
        seen.push(msg.execute);
        const out = peer(msg, conn);
        if (out !== undefined) conn.write(out);
      }
    });
    conn.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(file, r));
  return {
    file,
    seen,
    connections: () => connections,
    closes: () => closes,
    close: () => {
      for (const conn of open) conn.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** What a well-behaved qemu-ga says: the sync reply starts with 0xFF. */
const syncReply = (msg: Msg) => Buffer.concat([Buffer.from([0xff]), Buffer.from(JSON.stringify({ return: msg.arguments!.id }) + '\n')]);

test('resync: stale replies and a partial line before the 0xFF are skipped; the sync id must match', async () => {
  const fake = await fakeAgent(
    (msg) => {
      if (msg.execute === 'guest-sync-delimited') {
        // An old sync's reply first (another id), then ours.
        return Buffer.concat([Buffer.from('{"return": 1}\n'), syncReply(msg)]);
      }
      if (msg.execute === 'guest-ping') return '{"return": {}}\n';
      return undefined;
    },
    // Left over from an earlier client: a whole reply and half of another.
    (conn) => conn.write('{"return": {"pid": 77}}\n{"return": {"exi'),
  );
  const agent = new QemuGuestAgent(fake.file);
  assert.equal(await agent.ping(2000), true);
  assert.equal(await agent.ping(2000), true);
  assert.equal(fake.connections(), 1, 'one connection kept while the agent answers');
  assert.deepEqual(fake.seen, ['guest-sync-delimited', 'guest-ping', 'guest-ping']);
  agent.close();
  await fake.close();
});

test('a silent agent: every call ends at its own timeout, queued ones too, and the connection is dropped', async () => {
  const fake = await fakeAgent(() => undefined);
  const agent = new QemuGuestAgent(fake.file);
  const t0 = Date.now();
  const [a, b, c] = await Promise.all([
    agent.ping(300),
    agent.exec('true', { timeoutMs: 400 }).then(() => 'answered', (e: Error) => e),
    agent.networkInterfaces(500).then(() => 'answered', (e: Error) => e),
  ]);
  const took = Date.now() - t0;
  assert.equal(a, false);
  assert.ok(b instanceof AgentUnavailable, String(b));
  assert.match((b as Error).message, /does not answer/);
  assert.ok(c instanceof AgentUnavailable, String(c));
  assert.ok(took < 1500, `all three ended by their own timeouts, in ${took} ms`);
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(fake.closes() >= 1, 'the client hung up, so QEMU drops what the agent never read');
  agent.close();
  await fake.close();
});

test('no socket (VM not started): unavailable at once', async () => {
  const agent = new QemuGuestAgent(path.join(os.tmpdir(), 'hyved-no-such-dir', 'qga.sock'));
  const t0 = Date.now();
  assert.equal(await agent.ping(2000), false);
  await assert.rejects(agent.exec(['true'], { timeoutMs: 2000 }), AgentUnavailable);
  assert.ok(Date.now() - t0 < 500);
});

test('after a timeout the next call reconnects and resyncs', async () => {
  let answer = false;
  const fake = await fakeAgent((msg) => {
    if (msg.execute === 'guest-sync-delimited') return syncReply(msg);
    if (msg.execute === 'guest-ping' && answer) return '{"return": {}}\n';
    return undefined;
  });
  const agent = new QemuGuestAgent(fake.file);
  assert.equal(await agent.ping(300), false);
  answer = true;
  assert.equal(await agent.ping(1000), true);
  assert.equal(fake.connections(), 2);
  assert.deepEqual(fake.seen, ['guest-sync-delimited', 'guest-ping', 'guest-sync-delimited', 'guest-ping']);
  agent.close();
  await fake.close();
});

test('exec: guest-exec then guest-exec-status until exited; base64 decoded, stdin sent, output bounded', async () => {
  let polls = 0;
  let sent: Record<string, unknown> = {};
  const big = Buffer.alloc(MAX_OUTPUT + 10, 'x').toString('base64');
  const fake = await fakeAgent((msg) => {
    if (msg.execute === 'guest-sync-delimited') return syncReply(msg);
    if (msg.execute === 'guest-exec') {
      sent = msg.arguments!;
      return '{"return": {"pid": 42}}\n';
    }
    if (msg.execute === 'guest-exec-status') {
      if (++polls < 3) return '{"return": {"exited": false}}\n';
      return JSON.stringify({ return: { exited: true, exitcode: 3, 'out-data': Buffer.from('héllo\n').toString('base64'), 'err-data': big } }) + '\n';
    }
    return undefined;
  });
  const agent = new QemuGuestAgent(fake.file);
  const r = await agent.exec('echo hi', { stdin: 'in\n', timeoutMs: 5000 });
  assert.deepEqual(sent, { path: '/bin/sh', arg: ['-c', 'echo hi'], 'capture-output': true, 'input-data': Buffer.from('in\n').toString('base64') });
  assert.equal(r.exitcode, 3);
  assert.equal(r.stdout, 'héllo\n');
  assert.equal(r.stderr.length, MAX_OUTPUT);
  assert.equal(r.truncated, true);
  assert.equal(r.timedOut, false);
  assert.equal(polls, 3);
  agent.close();
  await fake.close();
});

test('exec past its deadline: the program is killed by pid and reported timed out', async () => {
  const killed: unknown[] = [];
  const fake = await fakeAgent((msg) => {
    if (msg.execute === 'guest-sync-delimited') return syncReply(msg);
    if (msg.execute === 'guest-exec' && msg.arguments!.path === 'kill') {
      killed.push(msg.arguments!.arg);
      return '{"return": {"pid": 9}}\n';
    }
    if (msg.execute === 'guest-exec') return '{"return": {"pid": 42}}\n';
    if (msg.execute === 'guest-exec-status') {
      return killed.length ? '{"return": {"exited": true, "signal": 9, "out-data": "cGFydA=="}}\n' : '{"return": {"exited": false}}\n';
    }
    return undefined;
  });
  const agent = new QemuGuestAgent(fake.file);
  const t0 = Date.now();
  const r = await agent.exec(['sleep', '100'], { timeoutMs: 300 });
  assert.ok(Date.now() - t0 < 1500);
  assert.deepEqual(killed, [['-9', '42']]);
  assert.equal(r.timedOut, true);
  assert.equal(r.exitcode, null);
  assert.equal(r.stdout, 'part');
  agent.close();
  await fake.close();
});

test('errors: a program that cannot start is exit 127; osInfo of an agent without it is null; a bad line drops the connection', async () => {
  const fake = await fakeAgent((msg) => {
    if (msg.execute === 'guest-sync-delimited') return syncReply(msg);
    if (msg.execute === 'guest-exec') return '{"error": {"class": "GenericError", "desc": "Failed to execute child process “nope” (No such file or directory)"}}\n';
    if (msg.execute === 'guest-get-osinfo') return '{"error": {"class": "CommandNotFound", "desc": "The command guest-get-osinfo has not been found"}}\n';
    if (msg.execute === 'guest-network-get-interfaces') return 'garbage\n';
    return undefined;
  });
  const agent = new QemuGuestAgent(fake.file);
  const r = await agent.exec(['nope'], { timeoutMs: 2000 });
  assert.equal(r.exitcode, 127);
  assert.match(r.stderr, /No such file/);
  assert.equal(await agent.osInfo(), null);
  await assert.rejects(agent.networkInterfaces(), AgentUnavailable);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(fake.closes(), 1);
  agent.close();
  await fake.close();
});

test('a hostile agent (the guest is not trusted): a flood of lines drops the connection, wrong shapes are no crash', async () => {
  const fake = await fakeAgent((msg) => {
    if (msg.execute === 'guest-sync-delimited') return syncReply(msg);
    if (msg.execute === 'guest-ping') return '{"return": {}}\n'.repeat(200);
    if (msg.execute === 'guest-network-get-interfaces') return '{"return": "not a list"}\n';
    if (msg.execute === 'guest-exec') return '{"return": {"pid": "x"}}\n';
    return undefined;
  });
  const agent = new QemuGuestAgent(fake.file);
  assert.equal(await agent.ping(1000), true);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(fake.closes(), 1, 'the lines nobody asked for ended the connection');
  assert.deepEqual(await agent.networkInterfaces(1000), []);
  await assert.rejects(agent.exec(['true'], { timeoutMs: 1000 }), /without a pid/);
  agent.close();
  await fake.close();
});
