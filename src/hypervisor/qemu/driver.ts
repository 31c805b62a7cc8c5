import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { appendFile, copyFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { HypervisorError, type BlockDevice, type Driver, type RunStatus, type SerialPort, type VmHandle } from '../driver.js';
import { isLinuxBridge } from '../host-nics.js';
import { pidAlive as alive } from '../../core/pid-file.js';
import { argvOf, waitForExit } from '../process.js';
import type { DisplayLimits, DriverCapabilities, LaunchPlan, VmDefinition } from '../types.js';
import { guardedNics, processTag, qemuArgv, runtimePaths } from './argv.js';
import { openNatLinks, type NatLinks } from './nat-link.js';
import { QmpClient, QmpTimeout } from './qmp.js';
import { QemuGuestAgent } from './agent.js';
import { setTimeout as sleep } from 'node:timers/promises';

const run = promisify(execFile);

class QemuVm extends EventEmitter implements VmHandle {
  private exited = false;
  readonly serial: SerialPort;
  readonly display: { path: string } | null;
  readonly agent: QemuGuestAgent;

  constructor(
    readonly pid: number,
    private readonly qmp: QmpClient,
    private readonly rt: ReturnType<typeof runtimePaths>,
    def: VmDefinition,
  ) {
    super();
    this.agent = new QemuGuestAgent(rt.qga);
    qmp.on('event', (name: string) => {
      if (name === 'STOP') this.emit('status', 'paused');
      else if (name === 'RESUME') this.emit('status', 'running');
    });
    qmp.on('close', () => this.onGone());
    this.serial = { socketPath: rt.console, switchLog: (file) => this.switchConsoleLog(file) };
    this.display = def.displays.length ? { path: rt.vnc } : null;
  }

  /**
   * chardev-change swaps the serial chardev under the running guest (no output is lost: the swap
   * happens between two guest writes). The old chardev unlinks its socket path when it goes, so
   * a swap to the same path would leave no socket there: swap to a side path, then back.
   */
  private async switchConsoleLog(file: string): Promise<void> {
    const backend = (p: string) => ({
      type: 'socket',
      data: { addr: { type: 'unix', data: { path: p } }, server: true, wait: false, logfile: file, logappend: true },
    });
    await this.qmp.execute('chardev-change', { id: 'serial0', backend: backend(this.rt.consoleSwap) });
    await this.qmp.execute('chardev-change', { id: 'serial0', backend: backend(this.rt.console) });
  }

  async status(timeoutMs = 2000): Promise<RunStatus> {
    if (this.qmp.isClosed) return alive(this.pid) ? 'unknown' : 'stopped';
    try {
      const r = await this.qmp.execute<{ running: boolean; status: string }>('query-status', undefined, timeoutMs);
      return r.running ? 'running' : r.status === 'paused' || r.status === 'prelaunch' || r.status === 'suspended' ? 'paused' : 'unknown';
    } catch (err) {
      if (err instanceof QmpTimeout) return 'unknown';
      if (this.qmp.isClosed && !alive(this.pid)) return 'stopped';
      throw err;
    }
  }

  async blockDevices(timeoutMs = 2000): Promise<BlockDevice[]> {
    type Info = { device: string; qdev?: string; removable: boolean; inserted?: { file: string; ro: boolean } };
    const list = await this.qmp.execute<Info[]>('query-block', undefined, timeoutMs);
    return list.map((b) => ({
      device: b.qdev || b.device,
      file: b.inserted?.file ?? null,
      readonly: b.inserted?.ro ?? false,
      removable: b.removable,
    }));
  }

  async pause(): Promise<void> {
    await this.qmp.execute('stop');
  }

  async resume(): Promise<void> {
    await this.qmp.execute('cont');
  }

  async reset(): Promise<void> {
    await this.qmp.execute('system_reset');
  }

  async powerdown(): Promise<void> {
    // A paused guest cannot see the power button.
    if ((await this.status()) === 'paused') await this.qmp.execute('cont');
    await this.qmp.execute('system_powerdown');
  }

  async kill(): Promise<void> {
    await this.qmp.execute('quit', undefined, 2000).catch(() => {});
    if (!(await this.waitExit(5000))) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await this.waitExit(5000);
    }
  }

  waitExit(timeoutMs: number): Promise<boolean> {
    return waitForExit(this, this.exited, timeoutMs);
  }

  detach(): void {
    this.qmp.removeAllListeners('close');
    this.qmp.close();
    this.agent.close();
  }

  /** The QMP socket closes when QEMU exits; make sure the pid is really gone before saying so. */
  private async onGone(): Promise<void> {
    for (let i = 0; i < 50 && alive(this.pid); i++) await sleep(100);
    if (!alive(this.pid)) await removeRuntimeFiles(this.rt);
    this.agent.close();
    this.exited = true;
    this.emit('exit');
  }
}

/** A stopped VM's sockets and pidfile: QEMU leaves vnc.sock (and, when killed, all of them) behind. */
function removeRuntimeFiles(rt: ReturnType<typeof runtimePaths>): Promise<unknown> {
  return Promise.all([rt.qmp, rt.console, rt.consoleSwap, rt.vnc, rt.qga, rt.pidfile].map((f) => rm(f, { force: true })));
}

/**
 * Synchronous: a pidfile is a few bytes, and adopt looks for one per VM at start-up, before the
 * daemon serves; most of 10,000 VMs have none, and a failed open through the thread pool cost far
 * more than the open itself.
 */
function readPid(file: string): number | null {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // No pidfile: not running.
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 1 ? pid : null;
}

async function connectQmp(path: string, pid: number): Promise<QmpClient> {
  let last: unknown;
  for (let i = 0; i < 50; i++) {
    try {
      return await QmpClient.connect(path, 3000);
    } catch (err) {
      last = err;
      if (!alive(pid)) break;
      await sleep(100);
    }
  }
  throw new HypervisorError(`cannot reach QEMU's QMP socket: ${(last as Error)?.message}`);
}

export interface QemuOptions { binary: string; imgBinary: string; passt: string }

/** The std VGA takes every size the create schema allows (tried at both ends with QEMU 7.2). */
const VGA_SIZES: DisplayLimits = { minWidth: 320, minHeight: 200, maxWidth: 7680, maxHeight: 4320 };

/** QEMU on Linux (and FreeBSD): daemonized processes, driven over QMP. */
export class QemuDriver implements Driver {
  readonly name = 'qemu';
  readonly discExtension = 'qcow2';

  constructor(private readonly opts: QemuOptions, private readonly efiAvailable: boolean) {}

  capabilities(): DriverCapabilities {
    return {
      pause: true,
      efi: this.efiAvailable,
      directBoot: true,
      mediaModes: ['USB', 'BLOCK', 'VIRTIO'],
      nat: true,
      // -netdev bridge runs qemu-bridge-helper, which QEMU builds on Linux only.
      bridge: process.platform === 'linux',
      vnc: VGA_SIZES,
    };
  }

  isBridge(iface: string): Promise<boolean> {
    return isLinuxBridge(iface);
  }

  async start(plan: LaunchPlan): Promise<VmHandle> {
    const rt = runtimePaths(plan.dir);
    await removeRuntimeFiles(rt);
    if (plan.firmware && !(await stat(rt.efiVars).catch(() => null))) await copyFile(plan.firmware.varsTemplate, rt.efiVars);
    const argv = qemuArgv(plan);
    const guarded = guardedNics(plan.def);
    const ipv4 = plan.def.ips?.ipv4;
    const fixed = ipv4 === undefined ? undefined : { ipv4, prefix: plan.natPrefix ?? 24 };
    const links = guarded.length ? await openNatLinks(plan.dir, plan.def.vmid, guarded, this.opts.passt, fixed) : null;
    try {
      return await this.launch(plan, argv, links);
    } finally {
      // QEMU holds its own copies now (or failed): the network processes live exactly as long as it does.
      links?.close();
    }
  }

  private async launch(plan: LaunchPlan, argv: string[], links: NatLinks | null): Promise<VmHandle> {
    const rt = runtimePaths(plan.dir);
    await appendFile(rt.log, `${new Date().toISOString()} starting: ${this.opts.binary} ${argv.join(' ')}\n`);
    // -daemonize: the first process exits once the VM is set up, with QEMU's own error on failure.
    const child = spawn(this.opts.binary, argv, { stdio: ['ignore', 'pipe', 'pipe', ...(links?.qemuEnds ?? [])] });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new HypervisorError('QEMU did not finish starting within 60 s'));
      }, 60_000);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new HypervisorError(`cannot run ${this.opts.binary}: ${err.message}`));
      });
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    if (output) await appendFile(rt.log, output);
    if (code !== 0) throw new HypervisorError(`QEMU failed to start: ${output.trim().split('\n').slice(-3).join(' ') || `exit code ${code}`}`);
    const pid = readPid(rt.pidfile);
    if (!pid) throw new HypervisorError('QEMU started but wrote no pidfile');
    const qmp = await connectQmp(rt.qmp, pid);
    const vm = new QemuVm(pid, qmp, rt, plan.def);
    const failure = await links?.failure();
    if (failure) {
      await vm.kill();
      throw new HypervisorError(failure);
    }
    await qmp.execute('cont');
    return vm;
  }

  async adopt(def: VmDefinition, dir: string): Promise<VmHandle | null> {
    // No pidfile: the VM was stopped (most of 10,000 are); any sockets left over go when it starts.
    // The pidfile's path alone: runtimePaths' nine joins for each stopped VM were 0.1 s of start-up.
    const pid = readPid(path.join(dir, 'qemu.pid'));
    if (!pid) return null;
    const rt = runtimePaths(dir);
    // The pid must still be this VM's QEMU, not a recycled pid.
    if (!alive(pid) || !(await argvOf(pid)).join(' ').includes(`process=${processTag(def.vmid)}`)) {
      await removeRuntimeFiles(rt);
      return null;
    }
    return new QemuVm(pid, await connectQmp(rt.qmp, pid), rt, def);
  }

  /** qcow2 discs, sized in MiB. */
  async createDisc(file: string, sizeMib: number): Promise<void> {
    await run(this.opts.imgBinary, ['create', '-q', '-f', 'qcow2', file, `${sizeMib}M`], { timeout: 60_000 });
  }

  async resizeDisc(file: string, sizeMib: number): Promise<void> {
    await run(this.opts.imgBinary, ['resize', '-q', '-f', 'qcow2', file, `${sizeMib}M`], { timeout: 60_000 });
  }
}
