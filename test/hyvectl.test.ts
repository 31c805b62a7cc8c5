import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { ROOT, startDaemon, type TestDaemon } from './helpers/daemon.js';

const HYVECTL = path.join(ROOT, 'dist/src/bin/hyvectl.js');

interface Run { code: number | null; stdout: string; stderr: string }

describe('hyvectl', () => {
  let daemon: TestDaemon;

  /** The environment a user would have, minus anything from the machine running the tests. */
  function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const e: NodeJS.ProcessEnv = { ...process.env, HYVED_PASSWORD: daemon.adminPassword, ...extra };
    for (const k of ['HYVED_URL', 'HYVED_USER', 'HYVED_TOKEN']) if (!(k in extra)) delete e[k];
    return e;
  }

  function ctl(args: string[], opts: { env?: Record<string, string>; stdin?: string } = {}): Promise<Run> {
    return new Promise((resolve) => {
      const proc = spawn(process.execPath, [HYVECTL, '--url', daemon.url, ...args], { env: env(opts.env), stdio: 'pipe' });
      let stdout = '';
      let stderr = '';
      proc.stdout.on('data', (d) => (stdout += d));
      proc.stderr.on('data', (d) => (stderr += d));
      proc.on('close', (code) => resolve({ code, stdout, stderr }));
      proc.stdin.end(opts.stdin ?? '');
    });
  }

  before(async () => {
    daemon = await startDaemon();
  });
  after(async () => {
    await daemon?.stop();
  });

  it('identify needs no credentials', async () => {
    const r = await ctl(['identify'], { env: { HYVED_PASSWORD: '' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^type: server$/m);
    assert.match(r.stdout, /^version: \d+\.\d+\.\d+/m);
    const json = await ctl(['--json', 'identify']);
    assert.equal(JSON.parse(json.stdout).type, 'server');
  });

  it('call prints the reply args as JSON', async () => {
    const r = await ctl(['call', 'sysadm', 'nic', '{"action":"list"}']);
    assert.equal(r.code, 0, r.stderr);
    const reply = JSON.parse(r.stdout);
    assert.ok(Array.isArray(reply.host_nics));
    assert.ok(Array.isArray(reply.other_nics));
  });

  it('nic list prints a table that includes the loopback interface', async () => {
    const r = await ctl(['nic', 'list']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^NICID\s+INTERFACE\s+OFFERED\s+STATE/);
    assert.ok(lines.some((l) => l.split(/\s+/)[1] === 'lo'), r.stdout);
  });

  it('schema lists the callable actions', async () => {
    const r = await ctl(['schema']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^sysadm\/nic\s+list\s+nic\.list\s+\{action=list\}$/m);
    const one = JSON.parse((await ctl(['schema', 'sysadm', 'nic'])).stdout);
    assert.deepEqual(Object.keys(one), ['sysadm/nic']);
  });

  it('a bad password exits 1 with the 401 and never shows the password', async () => {
    const r = await ctl(['nic', 'list'], { env: { HYVED_PASSWORD: 'not-the-password-xyz' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^hyvectl: 401 /);
    assert.ok(!r.stderr.includes('not-the-password-xyz') && !r.stdout.includes('not-the-password-xyz'));
  });

  it('an unknown action exits 1 with the 400 and its details', async () => {
    const r = await ctl(['call', 'sysadm', 'nic', '{"action":"bogus"}']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^hyvectl: 400 unknown action/);
    assert.match(r.stderr, /^ {2}\/args\/action: /m);
  });

  it('usage errors exit 2', async () => {
    for (const args of [[], ['frobnicate'], ['call', 'sysadm'], ['call', 'sysadm', 'nic', '{not json'], ['--no-such-flag', 'identify']]) {
      const r = await ctl(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
    const none = await ctl(['nic', 'list'], { env: { HYVED_PASSWORD: '' } });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no credentials/);
  });

  it('login prints a token that --token and HYVED_TOKEN accept', async () => {
    const pwFile = path.join(daemon.stateDir, 'admin-password');
    const login = await ctl(['login', '--password-file', pwFile], { env: { HYVED_PASSWORD: '' } });
    assert.equal(login.code, 0, login.stderr);
    const token = login.stdout.trim();
    assert.match(token, /^\S{16,}$/);
    const viaFlag = await ctl(['--token', token, 'call', 'rpc', 'query'], { env: { HYVED_PASSWORD: '' } });
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
    assert.equal(JSON.parse(viaFlag.stdout)['sysadm/nic'], 'read');
    const viaEnv = await ctl(['nic', 'list'], { env: { HYVED_PASSWORD: '', HYVED_TOKEN: token } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
  });

  it('--password-stdin reads the password from standard input', async () => {
    const r = await ctl(['--password-stdin', '--json', 'login'], { env: { HYVED_PASSWORD: '' }, stdin: daemon.adminPassword + '\n' });
    assert.equal(r.code, 0, r.stderr);
    const [token, seconds] = JSON.parse(r.stdout);
    assert.equal(typeof token, 'string');
    assert.ok(seconds > 0);
    const bad = path.join(daemon.stateDir, 'wrong-password');
    await writeFile(bad, 'nope\n');
    assert.equal((await ctl(['--password-file', bad, 'login'])).code, 1);
  });

  it('events prints pushed events as JSON lines until interrupted', async () => {
    const proc = spawn(process.execPath, [HYVECTL, '--url', daemon.url, 'events', 'audit'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
    const client = await daemon.client();
    try {
      // Keep making requests until one of them shows up: the subscription is live from then on.
      const poke = setInterval(() => client.call('rpc', 'identify').catch(() => {}), 200);
      const seen = await new Promise<{ event: string; args: Record<string, unknown> }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no audit event for rpc/identify; stderr: ${stderr}`)), 10_000);
        createInterface({ input: proc.stdout }).on('line', (line) => {
          const ev = JSON.parse(line);
          if (ev.args?.name === 'identify') {
            clearTimeout(timer);
            resolve(ev);
          }
        });
      }).finally(() => clearInterval(poke));
      assert.equal(seen.event, 'audit');
      assert.equal(seen.args.namespace, 'rpc');
      assert.equal(seen.args.code, 200);
      assert.equal(typeof seen.args.seq, 'number');
    } finally {
      client.close();
      proc.kill('SIGINT');
    }
    assert.equal(await exited, 0, stderr);
  });
});
