import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { HyvedClient, CallError } from '../src/client/client.js';
import { QemuGuestAgent } from '../src/hypervisor/qemu/agent.js';
import { qemuArgv, runtimePaths } from '../src/hypervisor/qemu/argv.js';
import { QmpClient } from '../src/hypervisor/qemu/qmp.js';
import type { VmDefinition } from '../src/hypervisor/types.js';
import { runHyved, startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { GUEST_DIR, guestVm, installGuest } from './helpers/guest.js';
import { waitFor } from './helpers/wait.js';

// The guest agent with the real qemu-ga in the real test guest (test/guest): vm run, vm info's
// agent and addresses, a silent agent, permissions; setConsoleSize on a VM booted with the
// daemon's own QEMU argv.

interface RunResult { exit_code: number | null; stdout: string; stderr: string; timed_out: boolean; truncated: boolean }
interface Info { state: string; agent: boolean; os?: Record<string, string>; addresses?: { interface: string; family: string; address: string; prefix: number; mac: string | null }[] }

let d: TestDaemon;
let c: HyvedClient;
let vmid: string;

const run = (args: Record<string, unknown>, client = c) => client.call<RunResult>('sysadm', 'vm', { action: 'run', vmid, ...args });
const info = (id = vmid) => c.call<Info>('sysadm', 'vm', { action: 'info', vmid: id });

async function failure(p: Promise<unknown>): Promise<CallError> {
  return p.then(
    () => assert.fail('expected an error'),
    (e: CallError) => e,
  );
}

before(async () => {
  const stateDir = await tempDir();
  await installGuest(stateDir);
  d = await startDaemon({}, stateDir);
  for (const [name, perms] of Object.entries({ viewer: ['vm.view', 'vm.state'], runner: ['vm.view', 'vm.run'] })) {
    const r = await runHyved(['user', 'add', name, ...perms.flatMap((p) => ['--perm', p]), '--password-stdin', '--config', d.configFile], `${name}-pass-1\n`);
    assert.equal(r.code, 0, r.stderr);
  }
  c = await d.client();
  ({ vmid } = await c.call<{ vmid: string }>('sysadm', 'vm', guestVm('agent1', { nics: [{ type: 'NAT' }] })));
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'RUNNING' });
});
after(async () => {
  await c?.call('sysadm', 'vm', { action: 'delete', vmid, force: true }).catch(() => {});
  c?.close();
  await d?.stop();
});

test('the agent answers after boot: vm info says agent true and lists the address the guest got by DHCP; vm list stays quick', async () => {
  const started = Date.now();
  await waitFor(async () => (await info()).agent, 'vm info agent:true', 90_000, 250);
  const bootedIn = Date.now() - started;
  const withAddress = await waitFor(async () => {
    const i = await info();
    return i.addresses?.some((a) => a.address === '10.0.2.15') ? i : null;
  }, 'the guest address 10.0.2.15 in vm info', 30_000, 500);
  const eth0 = withAddress.addresses!.find((a) => a.address === '10.0.2.15')!;
  assert.deepEqual({ ...eth0, mac: typeof eth0.mac }, { interface: 'eth0', family: 'ipv4', address: '10.0.2.15', prefix: 24, mac: 'string' });
  assert.ok(!withAddress.addresses!.some((a) => a.interface === 'lo'), 'loopback is left out');
  assert.equal(withAddress.os?.id, 'hyved-guest');
  assert.match(withAddress.os?.kernel_release ?? '', /cloud-amd64/);
  console.log(`# agent answered ${bootedIn} ms after the start request`);

  const { vmid: stopped } = await c.call<{ vmid: string }>('sysadm', 'vm', guestVm('agent-stopped'));
  const off = await info(stopped);
  assert.equal(off.agent, false);
  assert.equal(off.addresses, undefined);
  assert.equal(off.os, undefined);
  assert.equal((await failure(c.call('sysadm', 'vm', { action: 'run', vmid: stopped, command: 'true' }))).code, 409);
  await c.call('sysadm', 'vm', { action: 'delete', vmid: stopped });

  const t0 = Date.now();
  const list = await c.call<{ vms: Record<string, unknown>[] }>('sysadm', 'vm', { action: 'list', gid: 'default' });
  assert.ok(Date.now() - t0 < 500, 'vm list does not ask the agents');
  assert.equal(list.vms[0].agent, undefined);
});

test('vm run: a shell command line gives stdout, stderr and the exit code; argv runs without a shell; stdin reaches the program', async () => {
  assert.deepEqual(await run({ command: 'echo hello $((6*7)); echo oops >&2; exit 3' }), {
    exit_code: 3, stdout: 'hello 42\n', stderr: 'oops\n', timed_out: false, truncated: false,
  });
  const argv = await run({ argv: ['echo', '$HOME', 'a b'] });
  assert.equal(argv.stdout, '$HOME a b\n', 'no shell expanded the words');
  assert.equal(argv.exit_code, 0);
  const piped = await run({ argv: ['tr', 'a-z', 'A-Z'], stdin: 'piped through\n' });
  assert.equal(piped.stdout, 'PIPED THROUGH\n');
  const missing = await run({ argv: ['/no/such/program'] });
  assert.equal(missing.exit_code, 127);
  assert.match(missing.stderr, /No such file/);
  const os = await run({ command: '. /etc/os-release; echo $ID' });
  assert.equal(os.stdout, 'hyved-guest\n');
});

test('vm run: a command that outlives timeout_s is killed and reported timed out, and the request returns promptly', async () => {
  const t0 = Date.now();
  const r = await run({ command: 'echo started; sleep 30', timeout_s: 2 });
  const took = Date.now() - t0;
  assert.equal(r.timed_out, true);
  assert.equal(r.exit_code, null);
  assert.ok(took >= 2000 && took < 5000, `returned ${took} ms after the request`);
  const left = await run({ argv: ['pidof', 'sleep'] });
  assert.equal(left.exit_code, 1, `no sleep left running in the guest: ${left.stdout}`);
});

test('vm run needs vm.run (not implied by vm.state); bad args name the field', async () => {
  const viewer = await d.client('viewer', 'viewer-pass-1');
  const runner = await d.client('runner', 'runner-pass-1');
  try {
    const denied = await failure(run({ command: 'id' }, viewer));
    assert.equal(denied.code, 403);
    assert.equal((await run({ command: 'id -u' }, runner)).stdout, '0\n');
  } finally {
    viewer.close();
    runner.close();
  }
  const neither = await failure(run({}));
  assert.equal(neither.code, 400);
  assert.match(neither.message, /command/);
  assert.equal((await failure(run({ command: 'true', argv: ['true'] }))).code, 400);
  const badTimeout = await failure(run({ command: 'true', timeout_s: 0 }));
  assert.equal(badTimeout.code, 400);
  assert.match(JSON.stringify(badTimeout.details), /timeout_s/);
});

test('after a daemon restart the re-adopted VM\'s agent answers the new daemon', async () => {
  c.close();
  assert.equal(await d.stop('SIGTERM'), 0);
  d = await startDaemon({}, d.stateDir);
  c = await d.client('admin', (await readFile(path.join(d.stateDir, 'admin-password'), 'utf8')).trim());
  assert.equal((await info()).agent, true);
  assert.equal((await run({ command: 'echo again' })).stdout, 'again\n');
});

test('a silent agent: vm run is a 502 within its timeout, other requests to the VM are not held up, info says agent false', async () => {
  // Killed from a detached shell, so this run itself finishes before the agent goes.
  await run({ command: 'setsid sh -c "sleep 1; kill $(pidof qemu-ga)" </dev/null >/dev/null 2>&1 &' });
  await new Promise((r) => setTimeout(r, 2000));
  const t0 = Date.now();
  const pending = failure(run({ command: 'echo never', timeout_s: 3 }));
  // Meanwhile the VM answers everything else at once.
  const s0 = Date.now();
  assert.deepEqual(await c.call('sysadm', 'vm', { action: 'state', vmid }), { vmid, state: 'RUNNING' });
  assert.ok(Date.now() - s0 < 1000, 'vm state is not queued behind the agent');
  const i0 = Date.now();
  const during = await info();
  assert.ok(Date.now() - i0 < 2500, `vm info took ${Date.now() - i0} ms`);
  assert.equal(during.state, 'RUNNING');
  const err = await pending;
  const took = Date.now() - t0;
  assert.equal(err.code, 502);
  assert.equal(err.reason, 'agent_unavailable');
  assert.match(err.message, /guest agent .* does not answer/);
  assert.ok(took < 4500, `502 after ${took} ms (timeout_s 3)`);
  await waitFor(async () => !(await info()).agent, 'vm info agent:false', 10_000, 500);
});

test('setConsoleSize, on a VM started with the daemon\'s QEMU argv: stty on ttyS0 reports the size; false once the agent is gone', async () => {
  const dir = await tempDir('hyved-agent-vm-');
  const def: VmDefinition = {
    ...(guestVm('direct') as unknown as VmDefinition), vmid: 'agentdirect1', displays: [], media: [], nics: [], discs: [],
    autostart: false, description: '', rosetta: false, created: '',
  };
  const rt = runtimePaths(dir);
  const argv = qemuArgv({
    def, dir, discPaths: [], mediaPaths: [], bridges: [], accelerator: 'tcg', consoleLog: path.join(dir, 'console.log'),
    kernelPath: path.join(GUEST_DIR, 'vmlinuz'), initrdPath: path.join(GUEST_DIR, 'initrd.gz'),
  });
  const code = await new Promise<number | null>((resolve) => spawn('qemu-system-x86_64', argv, { stdio: 'ignore' }).on('exit', resolve));
  assert.equal(code, 0, await readFile(rt.log, 'utf8').catch(() => 'no log'));
  const qmp = await QmpClient.connect(rt.qmp);
  const agent = new QemuGuestAgent(rt.qga);
  try {
    await qmp.execute('cont');
    await waitFor(() => agent.ping(1000), 'the direct VM\'s agent', 90_000, 250);
    assert.equal(await agent.setConsoleSize(132, 43), true);
    assert.equal((await agent.exec(['stty', '-F', '/dev/ttyS0', 'size'], { timeoutMs: 5000 })).stdout, '43 132\n');
    assert.equal(await agent.setConsoleSize(80, 24), true);
    assert.equal((await agent.exec('stty -F /dev/ttyS0 size', { timeoutMs: 5000 })).stdout, '24 80\n');
    const os = await agent.osInfo();
    assert.equal(os?.id, 'hyved-guest');

    await agent.exec('setsid sh -c "sleep 1; kill $(pidof qemu-ga)" </dev/null >/dev/null 2>&1 &', { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 2000));
    const t0 = Date.now();
    assert.equal(await agent.setConsoleSize(100, 30), false);
    assert.ok(Date.now() - t0 < 4000);
  } finally {
    agent.close();
    await qmp.execute('quit').catch(() => {});
    qmp.close();
  }
});
