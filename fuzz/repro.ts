/**
 * Deterministic reproducers for the daemon bugs the fuzzer found (see fuzz/README.md), each
 * against a fresh daemon with the fuzzer's safe config (qemu.binary=/bin/false).
 *
 *   node dist/fuzz/repro.js [case...]      (no case: all of them)
 *
 * Prints REPRODUCED / not reproduced per case; exits 1 when any reproduced.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { RawSocket, type Frame } from '../test/helpers/raw.js';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { LOOPBACK } from '../test/helpers/servers.js';
import { setTimeout as sleep } from 'node:timers/promises';

// As the fuzzer runs its daemon: unauthenticated connections may send big frames and stay.
const FUZZ_CONNECTIONS = { pre_auth_frame_bytes: 64 * 1024 * 1024, sign_in_timeout_s: 0 };

const INTERNAL = 'internal error (see the daemon log)';

interface Ctx { d: TestDaemon; ws: RawSocket; seq: number }

async function fresh(): Promise<Ctx> {
  const d = await startDaemon({ qemu: { binary: '/bin/false' }, iso: { stall_timeout_s: 1, allow_private: LOOPBACK }, hypervisor: 'qemu', accelerator: 'tcg', connections: FUZZ_CONNECTIONS });
  const ws = await RawSocket.open(d.url);
  const auth = await ws.request('rpc', 'auth', { username: 'admin', password: d.adminPassword });
  if (auth.name !== 'response') throw new Error('sign-in failed');
  return { d, ws, seq: 0 };
}

const call = (c: Ctx, ns: string, name: string, args: unknown) => c.ws.request(ns, name, args, `r${++c.seq}`);

/** Sends all frames back to back (one connection, so the daemon runs them concurrently) and collects the replies by id. */
async function pipelined(c: Ctx, reqs: [string, string, unknown][], gapMs = 0): Promise<Frame[]> {
  const ids = reqs.map(() => `p${++c.seq}`);
  for (const [i, [ns, name, args]] of reqs.entries()) {
    if (i && gapMs) await sleep(gapMs);
    c.ws.send(JSON.stringify({ namespace: ns, name, id: ids[i], args }));
  }
  const got = new Map<string | number, Frame>();
  while (got.size < reqs.length) {
    const f = await c.ws.next();
    got.set(f.id, f);
  }
  return ids.map((id) => got.get(id)!);
}

async function guest(c: Ctx, name: string, size = '16M'): Promise<string> {
  await call(c, 'sysadm', 'iohyve', { action: 'create', name, size });
  for (let i = 0; i < 100; i++) {
    const r = await call(c, 'sysadm', 'vm', { action: 'list', gid: 'default' });
    const vm = (r.args.vms as { vmid: string; name: string }[]).find((v) => v.name === name);
    if (vm) return vm.vmid;
    await sleep(50);
  }
  throw new Error(`guest ${name} was not created`);
}

const show = (f: Frame) => `${f.name} ${f.name === 'error' ? `${f.args.code} ${f.args.message}` : JSON.stringify(f.args).slice(0, 120)}`;

const CASES: Record<string, (c: Ctx) => Promise<string | null>> = {
  /** A size that passes parseSize but that qemu-img refuses: the raw child-process error becomes a 500 "internal error". */
  async 'resizedisk-huge'(c) {
    await guest(c, 'g1');
    const r = await call(c, 'sysadm', 'iohyve', { action: 'resizedisk', name: 'g1', disk: 'disk0', size: '99999999T' });
    return r.name === 'error' && r.args.message === INTERNAL ? `resizedisk 99999999T -> ${show(r)}` : null;
  },

  /** Same for adddisk: createDisc's failure is not turned into an RpcError either. */
  async 'adddisk-huge'(c) {
    await guest(c, 'g1');
    const r = await call(c, 'sysadm', 'iohyve', { action: 'adddisk', name: 'g1', size: '99999999T' });
    return r.name === 'error' && r.args.message === INTERNAL ? `adddisk 99999999T -> ${show(r)}` : null;
  },

  /** Two adddisk requests at once pick the same free label: both qemu-img the same file (lock error, 500), or the VM ends up with the label twice. */
  async 'adddisk-race'(c) {
    await guest(c, 'g1');
    for (let i = 0; i < 20; i++) {
      const replies = await pipelined(c, [
        ['sysadm', 'iohyve', { action: 'adddisk', name: 'g1', size: '1M' }],
        ['sysadm', 'iohyve', { action: 'adddisk', name: 'g1', size: '1M' }],
      ]);
      const internal = replies.find((r) => r.name === 'error' && r.args.message === INTERNAL);
      if (internal) return `round ${i}: ${replies.map(show).join(' | ')}`;
      const disks = await call(c, 'sysadm', 'iohyve', { action: 'listdisks', name: 'g1' });
      const info = await call(c, 'sysadm', 'iohyve', { action: 'getprops', name: 'g1' });
      const added = replies.filter((r) => r.name === 'response').map((r) => r.args.adddisk.disk);
      if (new Set(added).size < added.length) return `round ${i}: both replies added ${added.join(' and ')}; listdisks ${JSON.stringify(disks.args)}; ${JSON.stringify(info.args).slice(0, 200)}`;
    }
    return null;
  },

  /** An update racing a delete: its save (mkdir -p + write) recreates vms/<vmid>/vm.json for a VM that no longer exists (it comes back at the next start), or fails with ENOENT as a 500. */
  async 'update-vs-delete'(c) {
    const seen: string[] = [];
    let ghosts = 0;
    let internal = 0;
    for (let i = 0; i < 40 && !(ghosts && internal); i++) {
      const vmid = await guest(c, `u${i}`);
      // The update lands at a different point of the delete each round.
      const [del, upd] = await pipelined(c, [
        ['sysadm', 'vm', { action: 'delete', vmid }],
        ['sysadm', 'vm', { action: 'update', vmid, description: 'raced' }],
      ], i % 4);
      const onDisk = await stat(path.join(c.d.stateDir, 'vms', vmid, 'vm.json')).then(() => true, () => false);
      const list = await call(c, 'sysadm', 'vm', { action: 'list', gid: 'default' });
      const listed = (list.args.vms as { vmid: string }[]).some((v) => v.vmid === vmid);
      const ghost = onDisk && !listed;
      const isInternal = upd.args?.message === INTERNAL || del.args?.message === INTERNAL;
      if ((ghost && !ghosts) || (isInternal && !internal)) {
        seen.push(`round ${i}: delete -> ${show(del)}; update -> ${show(upd)}; vms/${vmid}/vm.json ${onDisk ? 'on disk' : 'gone'}, VM ${listed ? 'still listed' : 'not listed'}${ghost ? ' => GHOST definition' : ''}`);
      }
      if (ghost) ghosts++;
      if (isInternal) internal++;
    }
    if (ghosts) {
      // The deleted VM is back after a restart.
      c.ws.close();
      await c.d.stop();
      c.d = await startDaemon({ qemu: { binary: '/bin/false' }, hypervisor: 'qemu', accelerator: 'tcg', connections: FUZZ_CONNECTIONS }, c.d.stateDir);
      c.ws = await RawSocket.open(c.d.url);
      await c.ws.request('rpc', 'auth', { username: 'admin', password: c.d.adminPassword });
      const list = await call(c, 'sysadm', 'vm', { action: 'list', gid: 'default' });
      seen.push(`after a restart the daemon lists: ${(list.args.vms as { vmid: string; name: string }[]).map((v) => `${v.name} (${v.vmid})`).join(', ')}`);
    }
    return seen.length ? `${ghosts} ghost definition(s), ${internal} internal error(s):\n    ${seen.join('\n    ')}` : null;
  },

  /** A VM whose disc creation fails leaves its empty disc directory behind (engine.create removes the files, not the directory). */
  async 'create-failure-leaves-dir'(c) {
    const before = new Set(await readdir(path.join(c.d.stateDir, 'discs')).catch(() => [] as string[]));
    await call(c, 'sysadm', 'iohyve', { action: 'create', name: 'toolarge', size: '99999999T' });
    await sleep(1500);
    const list = await call(c, 'sysadm', 'vm', { action: 'list', gid: 'default' });
    const vmids = new Set((list.args.vms as { vmid: string }[]).map((v) => v.vmid));
    const left = (await readdir(path.join(c.d.stateDir, 'discs')).catch(() => [] as string[])).filter((x) => !before.has(x) && !vmids.has(x));
    return left.length ? `discs/${left.join(', discs/')} left behind by the failed create` : null;
  },
};

async function main(): Promise<number> {
  const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(CASES);
  let reproduced = 0;
  for (const name of names) {
    const run = CASES[name];
    if (!run) {
      process.stderr.write(`unknown case ${name}; cases: ${Object.keys(CASES).join(', ')}\n`);
      return 2;
    }
    const c = await fresh();
    try {
      const found = await run(c);
      if (found) reproduced++;
      process.stdout.write(`${name}: ${found ? `REPRODUCED: ${found}` : 'not reproduced'}\n`);
      const stack = c.d.output().split('\n').filter((l) => / error .* failed: /.test(l)).slice(0, 2);
      if (found && stack.length) process.stdout.write(stack.map((l) => `  daemon: ${l.slice(0, 300)}\n`).join(''));
    } finally {
      c.ws.close();
      await c.d.stop();
      await rm(c.d.stateDir, { recursive: true, force: true });
    }
  }
  return reproduced ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(2);
  },
);
