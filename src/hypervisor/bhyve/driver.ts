import { execFile, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { copyFile, open, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { HypervisorError, type BlockDevice, type Driver, type RunStatus, type VmHandle } from '../driver.js';
import type { DriverCapabilities, LaunchPlan, VmDefinition } from '../types.js';
import { bhyveArgv, bhyveVmName, bhyvectlDestroyArgv, bhyvectlPoweroffArgv } from './argv.js';
import { setTimeout as sleep } from 'node:timers/promises';

const run = promisify(execFile);

export interface BhyveTools { bhyve: string; bhyvectl: string; ifconfig: string; uefiCode: string | null }

const exists = (p: string) => stat(p).then(() => true, () => false);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A bhyve guest: running while /dev/vmm/<name> exists. SIGTERM to bhyve is the ACPI power
 * button; bhyvectl powers off and destroys the instance (which also frees its memory).
 * Not exercised on the Linux CI.
 */
class BhyveVm extends EventEmitter implements VmHandle {
  private exited = false;
  private readonly poll: NodeJS.Timeout;

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
    if (this.exited) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.once('exit', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  detach(): void {
    clearInterval(this.poll);
  }

  private async check(): Promise<void> {
    if (this.exited || alive(this.pid)) return;
    this.exited = true;
    clearInterval(this.poll);
    // bhyve leaves the kernel instance behind when it exits: destroy it and the VM's taps.
    await run(this.tools.bhyvectl, bhyvectlDestroyArgv(this.name)).catch(() => {});
    for (const tap of this.taps) await run(this.tools.ifconfig, [tap, 'destroy']).catch(() => {});
    this.emit('exit');
  }
}

/** bhyve on FreeBSD: UEFI boot ROM, raw discs, tap interfaces on the configured bridges. */
export class BhyveDriver implements Driver {
  readonly name = 'bhyve';
  readonly discExtension = 'img';

  constructor(private readonly tools: BhyveTools) {}

  capabilities(): DriverCapabilities {
    return { pause: false, efi: this.tools.uefiCode !== null, directBoot: false };
  }

  async start(plan: LaunchPlan): Promise<VmHandle> {
    const name = bhyveVmName(plan.def);
    if (plan.def.nics.some((n) => n.type === 'NAT')) throw new HypervisorError('bhyve has no built-in NAT: use a BRIDGE nic on a NAT-ed host bridge');
    if (!this.tools.uefiCode) throw new HypervisorError('bhyve needs UEFI firmware (the edk2-bhyve package)');
    await run(this.tools.bhyvectl, bhyvectlDestroyArgv(name)).catch(() => {});
    const taps: string[] = [];
    for (const bridge of plan.bridges) {
      const { stdout } = await run(this.tools.ifconfig, ['tap', 'create']);
      const tap = stdout.trim();
      taps.push(tap);
      await run(this.tools.ifconfig, [bridge!, 'addm', tap, 'up']);
      await run(this.tools.ifconfig, [tap, 'up']);
    }
    const vars = path.join(plan.dir, 'efivars.fd');
    if (plan.firmware && !(await exists(vars))) await copyFile(plan.firmware.varsTemplate, vars);
    const argv = bhyveArgv(plan, {
      console: `/dev/nmdm${plan.def.vmid}A`,
      taps,
      bootrom: { code: this.tools.uefiCode, vars },
    });
    const log = await open(path.join(plan.dir, 'bhyve.log'), 'a');
    const child = spawn(this.tools.bhyve, argv, { detached: true, stdio: ['ignore', log.fd, log.fd] });
    await log.close();
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', (err) => reject(new HypervisorError(`cannot run ${this.tools.bhyve}: ${err.message}`)));
      child.once('spawn', () => resolve(child.pid!));
    });
    child.unref();
    await writeFile(path.join(plan.dir, 'bhyve.pid'), `${pid}\n`);
    for (let i = 0; i < 100; i++) {
      if (await exists(`/dev/vmm/${name}`)) return new BhyveVm(pid, name, taps, this.tools);
      if (!alive(pid)) break;
      await sleep(100);
    }
    const tail = (await readFile(path.join(plan.dir, 'bhyve.log'), 'utf8').catch(() => '')).trim().split('\n').slice(-3).join(' ');
    throw new HypervisorError(`bhyve failed to start: ${tail || 'no /dev/vmm entry appeared'}`);
  }

  async adopt(def: VmDefinition, dir: string): Promise<VmHandle | null> {
    const name = bhyveVmName(def);
    const pid = Number((await readFile(path.join(dir, 'bhyve.pid'), 'utf8').catch(() => '')).trim());
    if (!(await exists(`/dev/vmm/${name}`)) || !Number.isInteger(pid) || !alive(pid)) return null;
    return new BhyveVm(pid, name, [], this.tools);
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
