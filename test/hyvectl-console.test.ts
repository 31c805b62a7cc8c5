import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pty from 'node-pty';
import type { HyvedClient } from '../src/client/client.js';
import { ROOT, startDaemon, type TestDaemon } from './helpers/daemon.js';
import { MARKER, guestVm, installGuest } from './helpers/guest.js';
import { waitFor } from './helpers/wait.js';

const HYVECTL = path.join(ROOT, 'dist/src/bin/hyvectl.js');

let d: TestDaemon;
let c: HyvedClient;
let vmid: string;

before(async () => {
  d = await startDaemon();
  await installGuest(d.stateDir);
  c = await d.client();
  vmid = (await c.call<{ vmid: string }>('sysadm', 'vm', guestVm('ptyvm'))).vmid;
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'RUNNING' });
  // Booted to its shell: the marker and a prompt are in the scrollback.
  await waitFor(async () => {
    const r = await c.call<{ data: string }>('sysadm', 'console', { action: 'log', vmid, since: 0, limit: 1 << 20 });
    return new RegExp(`${MARKER}[\\s\\S]*[#$] (\\x1b\\[6n)?$`).test(r.data) || undefined;
  }, 'the guest shell', 120_000, 250);
});

after(async () => {
  await c?.call('sysadm', 'vm', { action: 'state', vmid, state: 'STOPPED', force: true }).catch(() => {});
  c?.close();
  await d?.stop('SIGKILL');
});

/**
 * hyvectl console in a real pseudo-terminal, inside a shell that prints the terminal's settings
 * after it exits: what a user's terminal is left with.
 */
function terminal(args: string[] = []) {
  const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(HYVECTL)} --url ${d.url} console ptyvm ${args.join(' ')}; echo "EXIT=$?"; stty -a`;
  const term = pty.spawn('/bin/sh', ['-c', cmd], { cols: 100, rows: 30, env: { ...process.env, HYVED_PASSWORD: d.adminPassword } as Record<string, string> });
  let out = '';
  term.onData((s) => (out += s));
  const exited = new Promise<void>((resolve) => term.onExit(() => resolve()));
  const until = (re: RegExp, ms = 30_000, from = 0) => waitFor(() => re.exec(out.slice(from))?.[0], `${re} in the terminal; got:\n${out.slice(-1500)}`, ms);
  return { term, output: () => out, until, exited };
}

/** The terminal after hyvectl exited: its status and whether canonical mode and echo are back on. */
async function aftermath(t: ReturnType<typeof terminal>): Promise<{ status: number; cooked: boolean }> {
  await t.until(/EXIT=\d+[\s\S]*speed/);
  await t.exited;
  const status = Number(/EXIT=(\d+)/.exec(t.output())![1]);
  const flags = t.output().slice(t.output().lastIndexOf('EXIT='));
  return { status, cooked: ['icanon', 'echo', 'opost'].every((f) => new RegExp(`(^|\\s)${f}(\\s|$)`, 'm').test(flags)) };
}

test('hyvectl console: scrollback first, typed commands reach the guest, Ctrl-] detaches and restores the terminal', async () => {
  const t = terminal();
  await t.until(new RegExp(MARKER));
  await t.until(/Ctrl-\] detaches/);
  const from = t.output().length;
  t.term.write('echo $((6*7))\r');
  await t.until(/\r\n42\r\n/, 30_000, from);
  t.term.write('\x1d');
  const { status, cooked } = await aftermath(t);
  assert.equal(status, 0);
  assert.ok(cooked, 'canonical mode and echo restored');
});

test('hyvectl console: SIGTERM ends it with 143 and the terminal restored; --read-only does not type', async () => {
  const t = terminal(['--read-only']);
  await t.until(/read-only; Ctrl-\] detaches/);
  t.term.write('echo TYPED$((2+3))\r');
  await new Promise((r) => setTimeout(r, 1000));
  const r = await c.call<{ data: string }>('sysadm', 'console', { action: 'log', vmid, limit: 4096 });
  assert.doesNotMatch(r.data, /TYPED5/);
  const pid = await waitFor(() => findHyvectl(t.term.pid), 'the hyvectl process', 5000);
  process.kill(pid, 'SIGTERM');
  const { status, cooked } = await aftermath(t);
  assert.equal(status, 143);
  assert.ok(cooked);
});

test('hyvectl console: a daemon restart ends it with 4 and the terminal restored', async () => {
  const t = terminal();
  await t.until(/Ctrl-\] detaches/);
  c.close();
  assert.equal(await d.stop(), 0);
  const { status, cooked } = await aftermath(t);
  assert.equal(status, 4);
  assert.ok(cooked);
  d = await startDaemon({}, d.stateDir);
  c = await d.client();
});

test('hyvectl console: the VM stopping ends it with 3 and the terminal restored', async () => {
  const t = terminal();
  await t.until(/Ctrl-\] detaches/);
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'STOPPED', force: true });
  const { status, cooked } = await aftermath(t);
  assert.equal(status, 3);
  assert.ok(cooked);
  assert.match(t.output(), /the VM stopped/);
});

/** The hyvectl child of the pty's shell, from /proc. */
async function findHyvectl(shellPid: number): Promise<number | undefined> {
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const stat = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === shellPid && (await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')).includes('hyvectl.js')) return Number(p);
  }
  return undefined;
}
