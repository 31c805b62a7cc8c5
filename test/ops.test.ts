import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir, stat, writeFile, access } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import { CallError, type HyvedClient } from '../src/client/client.js';
import { HYVED, runHyved, startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { qemuPidsOf } from './helpers/guest.js';
import { waitFor } from './helpers/wait.js';

/**
 * A VM with nothing to boot: the firmware finds no boot device, so no operating system ever enables
 * ACPI and the power button goes unanswered. A graceful stop of it lasts vm.stop_timeout_s, whatever
 * the guest image; no guest build is needed.
 */
const bootless = (name: string, extra: Record<string, unknown> = {}) => ({ action: 'create', name, gid: 'default', type: 'BIOS', cpus: 1, memory_mib: 64, ...extra });

const lockOf = (d: { stateDir: string }) => path.join(d.stateDir, 'hyved.pid');
const exists = (file: string) => access(file).then(() => true, () => false);

async function createRunning(c: HyvedClient, name: string): Promise<string> {
  const { vmid } = await c.call<{ vmid: string }>('sysadm', 'vm', bootless(name));
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'RUNNING' });
  return vmid;
}

async function vmState(c: HyvedClient, vmid: string): Promise<string> {
  return (await c.call<{ state: string }>('sysadm', 'vm', { action: 'info', vmid })).state;
}

/** The VMs a test leaves running on purpose (a daemon's exit leaves VMs running) are ended here. */
async function killVms(vmids: string[]): Promise<void> {
  for (const vmid of vmids) for (const pid of await qemuPidsOf(vmid)) process.kill(pid, 'SIGKILL');
}

// What a running QEMU writes on its own: its serial log segments and its log.
const QEMU_WRITES = /^(serial-\d+\.log|qemu\.log)$/;

/** Every file under `dir` with its size, mtime and content hash; sockets, dirs and QEMU's logs by name and type. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name);
    const st = await stat(file);
    if (QEMU_WRITES.test(entry.name)) {
      out[path.relative(dir, file)] = 'file';
      continue;
    }
    const hash = st.isFile() ? createHash('sha256').update(await readFile(file)).digest('hex') : '';
    out[path.relative(dir, file)] = `${st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other'} ${st.size} ${st.mtimeMs} ${hash}`;
  }
  return out;
}

/** Runs `hyved serve` expecting it to exit; one still running after `ms` is killed (code null). */
function serveUntilExit(args: string[], ms = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [HYVED, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('SIGTERM: requests still running after the grace period get 503 shutting_down before the close; later ones get 503 at once', async () => {
  const d = await startDaemon({ vm: { stop_timeout_s: 300 } });
  const vmids: string[] = [];
  try {
    const c = await d.client();
    const other = await d.client();
    vmids.push(await createRunning(c, 'ws-stop'), await createRunning(c, 'rest-stop'));
    const [wsVm, restVm] = vmids;

    const wsStop = c.call('sysadm', 'vm', { action: 'state', vmid: wsVm, state: 'STOPPED' }).then(
      () => null,
      (e: CallError) => e,
    );
    const restStop = fetch(`${d.url}/sysadm/vm`, {
      method: 'PUT',
      headers: { authorization: 'Basic ' + Buffer.from(`admin:${d.adminPassword}`).toString('base64'), 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'state', vmid: restVm, state: 'STOPPED' }),
    }).then(
      async (r) => ({ status: r.status, body: (await r.json()) as { args: { code: number; reason: string } } }),
      (e: Error) => ({ status: 0, body: { args: { code: 0, reason: e.message } } }),
    );
    await waitFor(async () => (await vmState(other, wsVm)) === 'STOPPING' && (await vmState(other, restVm)) === 'STOPPING', 'both stops to press the power button', 10_000);

    const signalled = Date.now();
    const exit = d.stop('SIGTERM');
    await waitFor(() => /SIGTERM: draining/.test(d.output()), 'the daemon to take the SIGTERM');
    const late = await other.call('rpc', 'identify', {}).then(
      () => null,
      (e: CallError) => e,
    );
    assert.ok(late instanceof CallError, 'a request sent after SIGTERM is refused');
    assert.equal(late.code, 503);
    assert.equal(late.reason, 'shutting_down');
    assert.ok(Date.now() - signalled < 5000, 'refused at once, not after the grace period');

    const wsReply = await wsStop;
    assert.ok(wsReply instanceof CallError);
    assert.equal(wsReply.code, 503, `the unfinished request got a 503 reply, not a bare close: ${wsReply.message}`);
    assert.equal(wsReply.reason, 'shutting_down');
    const rest = await restStop;
    assert.equal(rest.status, 503);
    assert.equal(rest.body.args.reason, 'shutting_down');
    const waited = Date.now() - signalled;
    assert.ok(waited >= 9000 && waited < 60_000, `answered when the 10 s grace period ran out (${waited} ms)`);

    assert.equal(await exit, 0);
    assert.equal(await exists(lockOf(d)), false, 'the state dir lock is released on SIGTERM');
    for (const vmid of vmids) assert.ok((await qemuPidsOf(vmid)).length > 0, 'VMs keep running after the daemon exits');
  } finally {
    await d.stop('SIGKILL');
    await killVms(vmids);
  }
});

test('one daemon per state dir: a second exits 2 naming the first and touching nothing; a SIGKILLed one does not block the next', async () => {
  const first = await startDaemon();
  const vmids: string[] = [];
  let next: TestDaemon | undefined;
  try {
    const c = await first.client();
    vmids.push(await createRunning(c, 'held'));
    c.close();
    // The last requests' log lines reach hyved.log a moment after their replies.
    const before = await waitFor(
      async () => {
        const a = await snapshot(first.stateDir);
        await sleep(300);
        return isDeepStrictEqual(a, await snapshot(first.stateDir)) && a;
      },
      'the state dir to settle',
    );
    assert.ok(Object.keys(before).some((f) => f.endsWith('qemu.pid')), 'the running VM has its pidfile');

    const second = await serveUntilExit(['--config', first.configFile]);
    assert.equal(second.code, 2, `the second daemon exits 2: ${second.stdout}${second.stderr}`);
    assert.equal(second.stderr, `hyved: state dir ${first.stateDir} is in use by hyved pid ${first.proc.pid} (${lockOf(first)})\n`);
    assert.equal(second.stdout, '');
    assert.deepEqual(await snapshot(first.stateDir), before, "the first daemon's state dir is untouched");
    assert.equal((await readFile(lockOf(first), 'utf8')).trim(), String(first.proc.pid));

    const users = await runHyved(['user', 'list', '--config', first.configFile]);
    assert.equal(users.code, 0, `hyved user works beside a running daemon: ${users.stderr}`);
    assert.match(users.stdout, /^admin \(admin\)$/m);

    assert.equal(await first.stop('SIGKILL'), null);
    assert.ok(await exists(lockOf(first)), 'SIGKILL leaves the lock behind');
    next = await startDaemon({}, first.stateDir);
    assert.equal((await readFile(lockOf(next), 'utf8')).trim(), String(next.proc.pid), "the dead daemon's lock was taken over");
    assert.match(next.output(), /re-adopted VM held/);
    assert.equal(await next.stop('SIGINT'), 0);
    assert.equal(await exists(lockOf(next)), false, 'the lock is released on SIGINT');

    // A lock naming a live process that is not hyved (a recycled pid) is stale too.
    await writeFile(lockOf(first), `${process.pid}\n`);
    next = await startDaemon({}, first.stateDir);
    assert.equal((await readFile(lockOf(next), 'utf8')).trim(), String(next.proc.pid));
  } finally {
    await first.stop('SIGKILL');
    await next?.stop('SIGKILL');
    await killVms(vmids);
  }
});

test('hyved user names the state dir it used, on stderr', async () => {
  const dir = await tempDir();
  const r = await runHyved(['user', 'list', '--state-dir', path.relative(process.cwd(), dir)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, `hyved: state dir ${dir}\n`, 'one line, with the path made absolute');
});

test('a busy port is one line naming the address and exit 2, also with a re-adopted VM, and leaves the state dir unlocked', async () => {
  // A daemon killed with its VM running: the next start re-adopts the VM (a QMP socket held open) before it listens.
  const first = await startDaemon();
  const c = await first.client();
  const vmid = await createRunning(c, 'adopted');
  c.close();
  await first.stop('SIGKILL');
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const r = await serveUntilExit(['--listen', `127.0.0.1:${port}`, '--state-dir', first.stateDir]);
    assert.equal(r.code, 2, `exits 2 instead of hanging on the VM's socket: ${r.stderr}`);
    assert.equal(r.stderr, `hyved: cannot listen on 127.0.0.1:${port}: the address is in use (another hyved, or another program, listens there)\n`);
    assert.equal(await exists(lockOf(first)), false);
  } finally {
    blocker.close();
    await killVms([vmid]);
  }
});

test('an autostarted VM is named in the log', async () => {
  const first = await startDaemon();
  const c = await first.client();
  const { vmid } = await c.call<{ vmid: string }>('sysadm', 'vm', bootless('auto1', { autostart: true }));
  c.close();
  await first.stop();
  const d = await startDaemon({}, first.stateDir);
  try {
    await waitFor(() => new RegExp(`autostarting VM auto1 \\(${vmid}\\)`).test(d.output()), 'the autostart log line');
    const c2 = await d.client();
    await waitFor(async () => (await vmState(c2, vmid)) === 'RUNNING', 'the autostarted VM to run', 30_000, 100);
    await c2.call('sysadm', 'vm', { action: 'delete', vmid, force: true });
    c2.close();
  } finally {
    await d.stop();
    await killVms([vmid]);
  }
});
