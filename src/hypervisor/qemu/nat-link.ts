import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { access, constants, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HypervisorError } from '../driver.js';
import { userNet } from './user-net.js';

/**
 * The guest side of a guarded NAT nic, as QEMU's slirp lays it out (10.0.2.15/24 behind 10.0.2.2),
 * so a guest sees the same network whichever kind of NAT nic it has. passt would otherwise hand the
 * guest the host's own address, which the guest could then not reach the host by.
 */
const GUEST_NET = ['-a', '10.0.2.15', '-n', '24', '-g', '10.0.2.2'];

const GUARD = fileURLToPath(new URL('./nat-guard.js', import.meta.url));

/**
 * The network processes behind a VM's guarded NAT nics, for each nic: QEMU ⇄ frame guard ⇄ passt,
 * joined by connected sockets the processes inherit as descriptors. No socket file is left, and
 * each process exits when its neighbour closes: QEMU's exit ends the guard, which ends passt. So
 * nothing has to be stopped or re-adopted: they live and die with their VM, daemon or not.
 */
export interface NatLinks {
  /** QEMU's ends, in guardedNics order: pass them as its descriptors from NAT_LINK_FD on. */
  readonly qemuEnds: net.Socket[];
  /** Drops the daemon's copies of every end; the processes keep theirs. */
  close(): void;
  /** Why a network process has already exited (passt refusing its setup), or null. */
  failure(): Promise<string | null>;
}

let pairs = 0;

/**
 * Two connected stream sockets. Node has no socketpair(), so a listener in the VM's own directory
 * takes one connection and goes. Both ends stay paused: not a byte of the guest's traffic is read here.
 */
export async function socketPair(dir: string): Promise<[net.Socket, net.Socket]> {
  const file = path.join(dir, `link-${process.pid}-${pairs++}.sock`);
  const server = net.createServer({ pauseOnConnect: true });
  try {
    server.listen(file);
    await once(server, 'listening');
    const accepted = once(server, 'connection');
    const client = net.connect(file);
    client.pause();
    const [[peer]] = await Promise.all([accepted, once(client, 'connect')]);
    return [client, peer as net.Socket];
  } finally {
    server.close();
    await rm(file, { force: true });
  }
}

/** The program `name` would run as: itself when it is a path, else the first match on PATH. */
async function findProgram(name: string): Promise<string | null> {
  const candidates = name.includes('/') ? [name] : (process.env.PATH ?? '').split(':').filter(Boolean).map((d) => path.join(d, name));
  for (const c of candidates) {
    if (await access(c, constants.X_OK).then(() => true, () => false)) return c;
  }
  return null;
}

/**
 * Starts passt and a frame guard for each of `nics` (nic indices), from VM directory `dir`. A fixed
 * IPv4 goes to the first nic, laid out as QEMU's user-net would (user-net.ts).
 */
export async function openNatLinks(dir: string, vmid: string, nics: number[], passtBinary: string, fixed?: { ipv4: string; prefix: number }): Promise<NatLinks> {
  const passt = await findProgram(passtBinary);
  if (!passt) {
    throw new HypervisorError(
      `nics/${nics[0]}: a NAT nic is kept off the host's loopback by passt, and '${passtBinary}' is not installed ` +
        "(Debian package passt, or config qemu.passt); or set host_loopback: true on the nic for QEMU's own user-mode " +
        "network, which lets the guest reach every service on the host's 127.0.0.1",
    );
  }
  const own: net.Socket[] = [];
  const qemuEnds: net.Socket[] = [];
  const children: { nic: number; log: string; child: ChildProcess }[] = [];
  const close = () => own.forEach((s) => s.destroy());
  try {
    for (const nic of nics) {
      const [qemuEnd, guardIn] = await socketPair(dir);
      const [guardOut, passtEnd] = await socketPair(dir);
      own.push(qemuEnd, guardIn, guardOut, passtEnd);
      qemuEnds.push(qemuEnd);
      const log = path.join(dir, `passt-${nic}.log`);
      // -f keeps passt our child until its setup is done or refused; -F implies it exits when its peer closes.
      const layout = nic === 0 && fixed ? userNet(fixed.ipv4, fixed.prefix) : null;
      const guestNet = layout ? ['-a', layout.address, '-n', String(layout.prefix), '-g', layout.gateway] : GUEST_NET;
      const argv = ['-f', '-F', '3', '-l', log, '--no-map-gw', ...guestNet];
      children.push({ nic, log, child: detached(passt, argv, [passtEnd]) });
      children.push({ nic, log, child: detached(process.execPath, [GUARD, `hyved-nat-${vmid}-${nic}`], [guardIn, guardOut]) });
    }
  } catch (err) {
    close();
    throw new HypervisorError(`cannot set up the NAT nics: ${(err as Error).message}`);
  }
  return {
    qemuEnds,
    close,
    async failure() {
      const gone = children.find((c) => c.child.exitCode !== null || c.child.signalCode !== null);
      if (!gone) return null;
      const text = await readFile(gone.log, 'utf8').catch(() => '');
      const last = text.trim().split('\n').filter((l) => !/^\s/.test(l)).at(-1) ?? '';
      return `nics/${gone.nic}: the NAT network ended at start (${gone.child.spawnfile} exited${last ? `: ${last}` : ''}); see ${path.basename(gone.log)} in the VM directory`;
    },
  };
}

/** A process in its own session (a signal to the daemon's group does not reach it), not waited for. */
function detached(file: string, args: string[], fds: net.Socket[]): ChildProcess {
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'ignore', ...fds], detached: true });
  child.on('error', () => {}); // an exit code tells failure() what it needs
  child.unref();
  return child;
}
