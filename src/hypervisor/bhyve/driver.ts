import { execFile, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { copyFile, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { HypervisorError, type BlockDevice, type Driver, type RunStatus, type VmHandle } from '../driver.js';
import { isFreeBsdBridge } from '../host-nics.js';
import { pidAlive as alive } from '../../core/pid-file.js';
import { waitForExit } from '../process.js';
import type { DriverCapabilities, LaunchPlan, VmDefinition } from '../types.js';
import { FBUF_SIZES, bhyveArgv, bhyveOptions, bhyveVmName, bhyvectlDestroyArgv, bhyvectlPoweroffArgv, runtimePaths } from './argv.js';
import { VncPorts, vncAddress } from './vnc.js';
import { setTimeout as sleep } from 'node:timers/promises';

const run = promisify(execFile);

export interface BhyveTools { bhyve: string; bhyvectl: string; ifconfig: string; uefiCode: string | null }

const exists = (p: string) => stat(p).then(() => true, () => false);

/**
 * A bhyve guest: running while /dev/vmm/<name> exists. SIGTERM to bhyve is the ACPI power
 * button; bhyvectl powers off and destroys the instance (which also frees its memory).
 * Not exercised on the Linux CI.
 */
class BhyveVm extends EventEmitter implements VmHandle {
  private exited = false;
  private readonly poll: NodeJS.Timeout;
  // The nmdm console is a tty, not a QEMU chardev with a log file: not followed yet (README, Consoles).
  readonly serial = null;
  // VNC listens on TCP (vnc.addr); bridging it is not wired up yet.
  readonly display = null;

  constructor(readonly pid: number, private readonly name: string, private readonly taps: string[], private readonly tools: BhyveTools) {
    super();
    this.poll = setInterval(() => void this.check(), 1000);
    this.poll.unref();
  }

  async status(): Promise<RunStatus> {
    return (await exists(`/dev/vmm/${this.name}`)) && alive(this.pid) ? 'running' : 'stopped';
  }

  async blockDevices(): Promise<BlockDevice[]> {
    return [];
  }

  async pause(): Promise<void> {
    throw new HypervisorError('bhyve cannot pause a VM');
  }

  async resume(): Promise<void> {
    throw new HypervisorError('bhyve cannot pause a VM');
  }

  async reset(): Promise<void> {
    await run(this.tools.bhyvectl, [`--vm=${this.name}`, '--force-reset']);
  }

  async powerdown(): Promise<void> {
    process.kill(this.pid, 'SIGTERM');
  }

  async kill(): Promise<void> {
    await run(this.tools.bhyvectl, bhyvectlPoweroffArgv(this.name)).catch(() => {});
    if (!(await this.waitExit(5000)) && alive(this.pid)) process.kill(this.pid, 'SIGKILL');
    await this.waitExit(5000);
  }

  waitExit(timeoutMs: number): Promise<boolean> {
    return waitForExit(this, this.exited, timeoutMs);
  }

  detach(): void {
    clearInterval(this.poll);
  }

  /** Only ever runs from the poll, which it stops before its first await: it cannot overlap itself. */
  private async check(): Promise<void> {
    if (this.exited || alive(this.pid)) return;
    clearInterval(this.poll);
    // bhyve leaves the kernel instance behind when it exits: destroy it and the VM's taps.
    await run(this.tools.bhyvectl, bhyvectlDestroyArgv(this.name)).catch(() => {});
    for (const tap of this.taps) await run(this.tools.ifconfig, [tap, 'destroy']).catch(() => {});
    // Exited only now, with 'exit' in the same tick: a waitExit that answers true finds the VM settled.
    this.exited = true;
    this.emit('exit');
  }
}

/** bhyve on FreeBSD: UEFI boot ROM, raw discs, tap interfaces on the configured bridges. */
export class BhyveDriver implements Driver {
  readonly name = 'bhyve';
  readonly discExtension = 'img';
  private readonly vncPorts = new VncPorts();

  constructor(private readonly tools: BhyveTools) {}

  /** What bhyveArgv can build: see its file comment for the reasons. */
  capabilities(): DriverCapabilities {
    return {
      pause: false,
      efi: this.tools.uefiCode !== null,
      directBoot: false,
      mediaModes: ['BLOCK', 'VIRTIO'],
      nat: false,
      bridge: true,
      vnc: FBUF_SIZES,
    };
  }

  isBridge(iface: string): Promise<boolean> {
    return isFreeBsdBridge(iface, this.tools.ifconfig);
  }

  async start(plan: LaunchPlan): Promise<VmHandle> {
    const name = bhyveVmName(plan.def);
    const paths = runtimePaths(plan.dir);
    if (!this.tools.uefiCode) throw new HypervisorError('bhyve needs UEFI firmware (the edk2-bhyve package)');
    await run(this.tools.bhyvectl, bhyvectlDestroyArgv(name)).catch(() => {});
    const taps: string[] = [];
    const vncPort = plan.def.displays.length > 0 ? await this.vncPorts.take(plan.def.vmid) : null;
    try {
      for (const [i, bridge] of plan.bridges.entries()) {
        if (!bridge) throw new HypervisorError(`nic ${i}: bhyve joins every nic to a host bridge, and this one has none`);
        const { stdout } = await run(this.tools.ifconfig, ['tap', 'create']);
        const tap = stdout.trim();
        taps.push(tap);
        await run(this.tools.ifconfig, [bridge, 'addm', tap, 'up']);
        await run(this.tools.ifconfig, [tap, 'up']);
      }
      if (plan.firmware && !(await exists(paths.efiVars))) await copyFile(plan.firmware.varsTemplate, paths.efiVars);
      const argv = bhyveArgv(plan, bhyveOptions(plan, { uefiCode: this.tools.uefiCode, taps, vncPort }));
      if (vncPort !== null) await writeFile(paths.vnc, `${vncAddress(vncPort)}\n`);
      else await rm(paths.vnc, { force: true });
      const vm = await this.launch(name, argv, plan.dir, taps);
      if (vncPort !== null) vm.once('exit', () => this.vncPorts.release(vncPort));
      return vm;
    } catch (err) {
      if (vncPort !== null) this.vncPorts.release(vncPort);
      for (const tap of taps) await run(this.tools.ifconfig, [tap, 'destroy']).catch(() => {});
      throw err;
    }
  }

  private async launch(name: string, argv: string[], dir: string, taps: string[]): Promise<BhyveVm> {
    const paths = runtimePaths(dir);
    const log = await open(paths.log, 'a');
    let pid: number;
    try {
      const child = spawn(this.tools.bhyve, argv, { detached: true, stdio: ['ignore', log.fd, log.fd] });
      // No await between spawn() and these listeners: 'spawn' and 'error' come on the next tick,
      // and an 'error' nobody listens to brings the daemon down.
      pid = await new Promise<number>((resolve, reject) => {
        child.once('error', (err) => reject(new HypervisorError(`cannot run ${this.tools.bhyve}: ${err.message}`)));
        child.once('spawn', () => resolve(child.pid!));
      });
      child.unref();
    } finally {
      await log.close();
    }
    await writeFile(paths.pidfile, `${pid}\n`);
    for (let i = 0; i < 100; i++) {
      if (await exists(`/dev/vmm/${name}`)) return new BhyveVm(pid, name, taps, this.tools);
      if (!alive(pid)) break;
      await sleep(100);
    }
    // A bhyve that never made its VM must not keep running on the taps and port start() frees.
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    const tail = (await readFile(paths.log, 'utf8').catch(() => '')).trim().split('\n').slice(-3).join(' ');
    throw new HypervisorError(`bhyve failed to start: ${tail || 'no /dev/vmm entry appeared'}`);
  }

  async adopt(def: VmDefinition, dir: string): Promise<VmHandle | null> {
    const name = bhyveVmName(def);
    const paths = runtimePaths(dir);
    const pid = Number((await readFile(paths.pidfile, 'utf8').catch(() => '')).trim());
    if (!(await exists(`/dev/vmm/${name}`)) || !Number.isInteger(pid) || !alive(pid)) return null;
    const vm = new BhyveVm(pid, name, [], this.tools);
    const vncPort = Number(/:(\d+)$/.exec((await readFile(paths.vnc, 'utf8').catch(() => '')).trim())?.[1]);
    if (Number.isInteger(vncPort) && vncPort > 0) {
      this.vncPorts.hold(vncPort);
      vm.once('exit', () => this.vncPorts.release(vncPort));
    }
    return vm;
  }

  /** bhyve reads raw images only: a sparse file of the size asked. */
  async createDisc(file: string, sizeMib: number): Promise<void> {
    const fh = await open(file, 'wx', 0o600);
    await fh.truncate(sizeMib * 1024 * 1024);
    await fh.close();
  }

  async resizeDisc(file: string, sizeMib: number): Promise<void> {
    await truncate(file, sizeMib * 1024 * 1024);
  }
}
