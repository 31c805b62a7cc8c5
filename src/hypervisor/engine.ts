import { createHash } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import type { NetConnectOpts } from 'node:net';
import path from 'node:path';
import { customAlphabet } from 'nanoid';
import type { Config } from '../core/config.js';
import { RpcError, conflict, notAcceptable, notFound } from '../core/errors.js';
import type { EventHub } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import { Locks } from '../core/locks.js';
import { eachLimited } from '../core/each-limited.js';
import { IsoStore } from '../store/iso-store.js';
import type { VmStore } from '../store/vm-store.js';
import { BOOT_DIR } from '../store/boot-images.js';
import { unsupported, type CheckedFields } from './capabilities.js';
import { checkBridgeNic } from './nic-spec.js';
import { HypervisorError, type BlockDevice, type Driver, type RunStatus, type VmHandle } from './driver.js';
import type { VmAction } from '../core/api.gen.js';
import type { GuestAddress, GuestAgent, GuestOsInfo } from './agent.js';
import type { LaunchPlan, VmDefinition, VmState } from './types.js';
import { VmIndex } from './vm-index.js';
import { SegmentLog } from './console/segments.js';
import { SerialConsole } from './console/serial.js';
import { actionsIn } from './states.js';

const newVmid = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 12);

/** How long `vm info` trusts what it last learnt from a guest agent: dashboards poll info. */
const AGENT_INFO_TTL_MS = 3000;
/** How long `vm info` waits for an agent's answer. */
const AGENT_PING_MS = 1000;

export interface AgentInfo { agent: boolean; addresses?: GuestAddress[]; os?: GuestOsInfo }

export interface Runtime {
  def: VmDefinition;
  state: VmState;
  handle: VmHandle | null;
  launchTime: string | null;
  /** While running, where the hypervisor's console can be followed. */
  console?: SerialConsole | null;
}

export interface DiscTools {
  /** The file format the driver's discs are in, as their file name extension. */
  readonly discExtension: string;
  createDisc(file: string, sizeMib: number): Promise<void>;
  resizeDisc(file: string, sizeMib: number): Promise<void>;
}

export interface EngineDeps {
  config: Config;
  log: Logger;
  events: EventHub;
  store: VmStore;
  isos: IsoStore;
  driver: Driver;
  discs: DiscTools;
  accelerator: 'kvm' | 'tcg';
  efi: { code: string; vars: string } | null;
}

export { BOOT_DIR };

/** A VM's cloud-init seed, in its directory while attached. */
export const SEED_FILE = 'seed.img';

/**
 * A VM held for provisioning (a create being built, or a reimage): its files, and the steps that
 * need the engine. The VM stays busy (409 to other changes) until the work returns.
 */
export interface Build {
  readonly def: VmDefinition;
  /** The VM's own directory (created). */
  readonly dir: string;
  readonly seedPath: string;
  /** The engine's disc file format: qcow2 under QEMU, raw under bhyve. */
  readonly discFormat: 'qcow2' | 'raw';
  discPath(index: number): string;
  /** Every path the build may create, for a task's crash cleanup. */
  paths(): string[];
  /** A new VM's discs, created empty. */
  createDiscs(): Promise<void>;
  /** Saves the definition with `patch` applied. */
  save(patch?: Partial<VmDefinition>): Promise<void>;
  start(): Promise<void>;
}

/** A create whose VM is registered (listed, busy) and is built by a task: run it, or abandon it if the task never runs. */
export interface Creation {
  readonly def: VmDefinition;
  run<T>(work: (b: Build) => Promise<T>): Promise<T>;
  abandon(): Promise<void>;
}

/**
 * The VMs: definitions, live handles and Velocity's state machine. Every state change is published
 * as a `vm` event; a VM takes one state change at a time (a second one gets 409, not a queue, so
 * clients never wait behind a slow graceful stop they did not ask for).
 */
export class VmEngine {
  private readonly vms = new VmIndex<Runtime>();
  /** Per vmid: the change in progress, one at a time per VM. */
  private readonly locks = new Locks();
  /** Per agent (so per run of a VM): the last answer to `agentInfo`, shared while it is fresh. */
  private readonly agentInfos = new WeakMap<GuestAgent, { at: number; info: Promise<AgentInfo> }>();

  constructor(private readonly d: EngineDeps) {}

  /** Loads definitions, re-adopts VMs left running by an earlier daemon, then starts autostart ones. */
  async init(): Promise<void> {
    await this.d.store.init();
    const defs = await this.d.store.loadAll((file, err) => this.d.log.error(`skipping VM definition ${file}: ${err.message}`));
    await this.numberOlder(defs);
    const runtimes = defs.map((def): Runtime => ({ def, state: 'STOPPED', handle: null, launchTime: null }));
    for (const rt of runtimes) this.vms.add(rt);
    await eachLimited(runtimes, (rt) => this.adopt(rt));
    for (const rt of this.vms.all()) {
      if (rt.def.autostart && rt.state === 'STOPPED') {
        this.d.log.info(`autostarting VM ${rt.def.name} (${rt.def.vmid})`);
        this.setState(rt.def.vmid, 'RUNNING', false).catch((err) =>
          this.d.log.error(`autostart of ${rt.def.name} failed: ${(err as Error).message}`),
        );
      }
    }
  }

  /** Re-adopts the VM if a QEMU left running by an earlier daemon still runs it. */
  private async adopt(rt: Runtime): Promise<void> {
    const { def } = rt;
    try {
      const handle = await this.d.driver.adopt(def, this.d.store.dirOf(def.vmid));
      if (!handle) return;
      this.attach(rt, handle);
      // Asked together with the console's chardev swap: QEMU answers them in turn on one socket,
      // and a guest under TCG can keep its QEMU from the socket for a while on a loaded host.
      const [status] = await Promise.all([
        handle.status(this.d.config.vm.status_timeout_ms),
        // Also moves a VM started before console segments off its unbounded console.log.
        this.attachConsole(rt, handle, true),
      ]);
      rt.state = status === 'paused' ? 'PAUSED' : status === 'running' ? 'RUNNING' : status === 'stopped' ? 'STOPPED' : 'UNKNOWN';
      rt.launchTime = (await stat(path.join(this.d.store.dirOf(def.vmid), 'qemu.pid')).catch(() => null))?.mtime.toISOString() ?? null;
      this.d.log.info(`re-adopted VM ${def.name} (${def.vmid}), pid ${handle.pid}, ${rt.state}`);
    } catch (err) {
      this.d.log.error(`cannot re-adopt VM ${def.name} (${def.vmid}): ${(err as Error).message}`);
      rt.state = 'UNKNOWN';
    }
  }

  /** Definitions from before numeric ids get theirs, in creation order, saved so they stay. */
  private async numberOlder(defs: VmDefinition[]): Promise<void> {
    let vm = Math.max(0, ...defs.map((d) => d.num ?? 0));
    let disc = Math.max(0, ...defs.flatMap((d) => d.discs.map((x) => x.num ?? 0)));
    // Only those missing a number are sorted (10,000 localeCompare sorts cost 0.1 s at every start);
    // ISO times order by code units.
    const unnumbered = defs.filter((def) => def.num === undefined || def.discs.some((d) => d.num === undefined));
    for (const def of unnumbered.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0))) {
      def.num ??= ++vm;
      for (const d of def.discs) d.num ??= ++disc;
      await this.d.store.save(def).catch((err: Error) => this.d.log.error(`cannot save numeric ids of VM ${def.name}: ${err.message}`));
    }
  }

  private nextNums(discs: number): { vm: number; discs: number[] } {
    const highest = this.vms.highestNums();
    return { vm: highest.vm + 1, discs: Array.from({ length: discs }, (_, i) => highest.disc + i + 1) };
  }

  /** The VM (other than `except`) whose fixed IPs include `ip`. */
  ipHolder(ip: string, except?: string): Runtime | undefined {
    const norm = ip.toLowerCase();
    return [...this.vms.all()].find((r) => r.def.vmid !== except && [r.def.ips?.ipv4, r.def.ips?.ipv6].some((x) => x?.toLowerCase() === norm));
  }

  /** The group's VMs in name order (the index's array: read it, do not change it). */
  list(gid: string): readonly Runtime[] {
    return this.vms.list(gid);
  }

  get(vmid: string): Runtime {
    const rt = this.vms.get(vmid);
    if (!rt) throw notFound(`no VM with vmid '${vmid}'`);
    return rt;
  }

  find(vmid: string): Runtime | undefined {
    return this.vms.get(vmid);
  }

  byName(gid: string, name: string): Runtime | undefined {
    return this.vms.byName(gid, name);
  }

  groupExists(gid: string): boolean {
    return Object.hasOwn(this.d.config.groups, gid);
  }

  /** Deltacloud: what may be asked of the VM in its current state (from the one state table). */
  actions(rt: Runtime): VmAction[] {
    if (this.locks.holder(rt.def.vmid)) return [];
    return actionsIn(rt.state, this.d.driver.capabilities());
  }

  /** VMs whose definition attaches the medium `mid`: removing it would break their next start. */
  usersOfMedium(mid: string): Runtime[] {
    return [...this.vms.all()].filter((r) => r.def.media.some((m) => m.mid === mid));
  }

  async create(input: Omit<VmDefinition, 'vmid' | 'created'>): Promise<VmDefinition> {
    if (!this.groupExists(input.gid)) throw notFound(`no group '${input.gid}'`);
    return this.inGroup(input.gid, () => this.createInGroup(input));
  }

  /** Everything a create checks before it makes anything: 4xx naming the field. */
  private async checkNew(input: Omit<VmDefinition, 'vmid' | 'created'>): Promise<void> {
    const { config } = this.d;
    if (this.byName(input.gid, input.name)) throw conflict(`a VM named '${input.name}' already exists in group '${input.gid}'`, 'name_taken');
    this.supported(input);
    for (const m of input.media) {
      if (!(await this.d.isos.exists(m.mid))) throw notFound(`media: no image '${m.mid}' in the store`);
    }
    input.nics.forEach((n, i) => checkBridgeNic(n, `nics/${i}`, config.nics));
    for (const [i, disc] of input.discs.entries()) {
      if (!Object.hasOwn(config.storage_grades, disc.storage_grade)) throw notFound(`discs/${i}: no storage grade '${disc.storage_grade}'`);
    }
    if (new Set(input.discs.map((d) => d.label)).size !== input.discs.length) throw notAcceptable('discs: labels must be unique');
    for (const f of [input.kernel, input.initrd]) if (f !== undefined) await this.bootFile(f);
    this.checkQuota(input.gid, { vms: 1, cpus: input.cpus, memory_mib: input.memory_mib, disk_mib: sum(input.discs.map((d) => d.size_mib)) });
  }

  /** The definition of a new VM: ids, numbers, and a stable MAC per nic (network-config matches on it). */
  private newDefinition(input: Omit<VmDefinition, 'vmid' | 'created'>): VmDefinition {
    const vmid = newVmid();
    const nums = this.nextNums(input.discs.length);
    return {
      ...input,
      vmid,
      num: nums.vm,
      nics: input.nics.map((n, i) => ({ ...n, mac: n.mac ?? stableMac(vmid, i) })),
      discs: input.discs.map((d, i) => ({ ...d, num: nums.discs[i] })),
      created: new Date().toISOString(),
    };
  }

  private async createInGroup(input: Omit<VmDefinition, 'vmid' | 'created'>): Promise<VmDefinition> {
    await this.checkNew(input);
    const def = this.newDefinition(input);
    const created: string[] = [];
    try {
      for (const disc of def.discs) {
        const file = this.discPath(def, disc.label, disc.storage_grade);
        await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
        created.push(file);
        await this.d.discs.createDisc(file, disc.size_mib);
      }
      await this.d.store.save(def);
    } catch (err) {
      await Promise.all(created.map((f) => rm(path.dirname(f), { recursive: true, force: true })));
      await this.d.store.remove(def.vmid);
      throw new RpcError(500, `creating VM '${def.name}' failed: ${(err as Error).message}`);
    }
    const rt: Runtime = { def, state: 'STOPPED', handle: null, launchTime: null };
    this.vms.add(rt);
    this.publish(rt, 'STOPPED', null);
    this.d.log.info(`created VM ${def.name} (${def.vmid}) in group ${def.gid}`);
    return def;
  }

  /**
   * A create built by a task (Bytemark's transactional vm_create): checked now, the VM registered
   * at once (listed, STOPPED, busy "creating") with its name and fixed IPs taken, but nothing on
   * disk until the task's work runs. If the work fails, or the task never runs, every file it made
   * goes and the VM with it.
   */
  async prepareCreate(input: Omit<VmDefinition, 'vmid' | 'created'>): Promise<Creation> {
    if (!this.groupExists(input.gid)) throw notFound(`no group '${input.gid}'`);
    return this.inGroup(input.gid, async () => {
      await this.checkNew(input);
      // No await between this check and the registration below: two creates cannot both pass it.
      for (const ip of [input.ips?.ipv4, input.ips?.ipv6]) {
        const holder = ip === undefined ? undefined : this.ipHolder(ip);
        if (holder) throw conflict(`ips: ${ip} is in use by VM '${holder.def.name}' (vmid ${holder.def.vmid}, group ${holder.def.gid})`);
      }
      const def = this.newDefinition(input);
      const rt: Runtime = { def, state: 'STOPPED', handle: null, launchTime: null };
      this.vms.add(rt);
      this.publish(rt, 'STOPPED', null);
      let release!: () => void;
      const held = this.exclusive(rt, 'creating', () => new Promise<void>((r) => (release = r)));
      let settled = false;
      const undo = async () => {
        if (settled) return;
        settled = true;
        if (rt.handle) await rt.handle.kill().then(() => rt.handle?.waitExit(5000)).catch(() => {});
        await Promise.all(this.buildOf(rt).paths().map((p) => rm(p, { recursive: true, force: true })));
        this.vms.remove(rt);
        this.d.events.publish('vm', { vmid: def.vmid, name: def.name, gid: def.gid, state: 'DELETED', previous: rt.state });
        this.d.log.info(`creation of VM ${def.name} (${def.vmid}) rolled back`);
      };
      return {
        def,
        run: async <T>(work: (b: Build) => Promise<T>) => {
          try {
            const out = await work(this.buildOf(rt));
            settled = true;
            this.d.log.info(`created VM ${def.name} (${def.vmid}) in group ${def.gid}`);
            return out;
          } catch (err) {
            await undo();
            throw err;
          } finally {
            release();
            await held;
          }
        },
        abandon: async () => {
          await undo();
          release();
        },
      };
    });
  }

  /**
   * Reimage: runs `work` on a stopped VM held busy; what it returns is saved into the definition
   * (firmware, direct-boot files). The VM's discs stay where they are.
   */
  async provision<T>(vmid: string, what: string, work: (b: Build) => Promise<{ patch: Partial<VmDefinition>; result: T }>): Promise<T> {
    const rt = this.get(vmid);
    this.assertIdle(rt);
    if (rt.state !== 'STOPPED') throw conflict(`VM '${rt.def.name}' is ${rt.state}: stop it first`);
    if (rt.def.discs.length === 0) throw notAcceptable(`VM '${rt.def.name}' has no disc to write a distribution onto`);
    return this.exclusive(rt, what, async () => {
      const b = this.buildOf(rt);
      const { patch, result } = await work(b);
      await b.save(patch);
      return result;
    });
  }

  private buildOf(rt: Runtime): Build {
    const dir = this.d.store.dirOf(rt.def.vmid);
    const ext = this.d.discs.discExtension;
    const discPath = (i: number) => this.discPath(rt.def, rt.def.discs[i].label, rt.def.discs[i].storage_grade);
    return {
      def: rt.def,
      dir,
      seedPath: path.join(dir, SEED_FILE),
      discFormat: ext === 'qcow2' ? 'qcow2' : 'raw',
      discPath,
      paths: () => [dir, ...rt.def.discs.map((_d, i) => path.dirname(discPath(i)))],
      createDiscs: async () => {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        for (const [i, disc] of rt.def.discs.entries()) {
          await mkdir(path.dirname(discPath(i)), { recursive: true, mode: 0o700 });
          await this.discTool(`creating disc '${disc.label}'`, () => this.d.discs.createDisc(discPath(i), disc.size_mib));
        }
      },
      save: (patch = {}) => this.commit(rt, { ...rt.def, ...patch }),
      start: () => this.start(rt),
    };
  }

  /** Changes the definition; hardware changes only while STOPPED. */
  async update(vmid: string, patch: Partial<Pick<VmDefinition, 'cpus' | 'memory_mib' | 'autostart' | 'description' | 'media' | 'boot'>>): Promise<VmDefinition> {
    const rt = this.get(vmid);
    const hardware = patch.cpus !== undefined || patch.memory_mib !== undefined || patch.media !== undefined || patch.boot !== undefined;
    if (hardware && rt.state !== 'STOPPED') throw conflict(`VM '${rt.def.name}' is ${rt.state}: stop it before changing its hardware`);
    this.supported({ media: patch.media });
    return this.exclusive(rt, 'updating', () => this.inGroup(rt.def.gid, async () => {
      for (const m of patch.media ?? []) if (!(await this.d.isos.exists(m.mid))) throw notFound(`media: no image '${m.mid}' in the store`);
      this.checkQuota(rt.def.gid, { cpus: (patch.cpus ?? rt.def.cpus) - rt.def.cpus, memory_mib: (patch.memory_mib ?? rt.def.memory_mib) - rt.def.memory_mib });
      const next = { ...rt.def, ...patch };
      await this.commit(rt, next);
      return next;
    }));
  }

  /** Saves the VM's changed definition, then makes it the one in memory and in the indexes. */
  private async commit(rt: Runtime, next: VmDefinition): Promise<void> {
    await this.d.store.save(next);
    this.vms.replace(rt, next);
  }

  /**
   * Runs a change that counts against the group's quota or names, from the check to the saved
   * result, one at a time per group: checks made before an await would otherwise all pass together.
   */
  private inGroup<T>(gid: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(`group:${gid}`, `changing group ${gid}`, fn);
  }

  /**
   * Runs a change of the VM's definition or files with the VM marked busy: a second change, a
   * state change or a delete meanwhile gets 409 instead of racing it (a delete could otherwise
   * be undone by a save that lands after it).
   */
  private exclusive<T>(rt: Runtime, what: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.claim(rt.def.vmid, what, `VM '${rt.def.name}' is busy`, fn);
  }

  private assertIdle(rt: Runtime): void {
    const holder = this.locks.holder(rt.def.vmid);
    if (holder) throw conflict(`VM '${rt.def.name}' is busy: ${holder}`, 'busy');
  }

  /** Disc tools fail with the tool's words; the client gets them, not an "internal error". */
  private async discTool(what: string, call: () => Promise<void>): Promise<void> {
    try {
      await call();
    } catch (err) {
      const e = err as Error & { stderr?: string };
      throw new RpcError(500, `${what} failed: ${(e.stderr || e.message).trim().split('\n').slice(-1)[0]}`);
    }
  }

  /** Adds a disc (created empty) to a stopped VM. */
  async addDisc(vmid: string, disc: VmDefinition['discs'][number]): Promise<void> {
    const rt = this.get(vmid);
    if (rt.state !== 'STOPPED') throw conflict('Please stop the guest first');
    if (rt.def.discs.some((d) => d.label === disc.label)) throw conflict(`VM '${rt.def.name}' already has a disc '${disc.label}'`);
    if (!Object.hasOwn(this.d.config.storage_grades, disc.storage_grade)) throw notFound(`no storage grade '${disc.storage_grade}'`);
    await this.exclusive(rt, 'adding a disc', () => this.inGroup(rt.def.gid, async () => {
      this.checkQuota(rt.def.gid, { disk_mib: disc.size_mib });
      const file = this.discPath(rt.def, disc.label, disc.storage_grade);
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      await this.discTool(`creating disc '${disc.label}'`, () => this.d.discs.createDisc(file, disc.size_mib));
      await this.commit(rt, { ...rt.def, discs: [...rt.def.discs, disc] });
    }));
  }

  /** Removes a disc and its file from a stopped VM. */
  async removeDisc(vmid: string, label: string): Promise<void> {
    const rt = this.get(vmid);
    if (rt.state !== 'STOPPED') throw conflict('Please stop the guest first');
    const disc = rt.def.discs.find((d) => d.label === label);
    if (!disc) throw notFound(`VM '${rt.def.name}' has no disc '${label}'`);
    await this.exclusive(rt, 'removing a disc', async () => {
      await this.commit(rt, { ...rt.def, discs: rt.def.discs.filter((d) => d !== disc) });
      await rm(this.discPath(rt.def, label, disc.storage_grade), { force: true });
    });
  }

  /** Resizes (grows) a disc of a stopped VM. */
  async resizeDisc(vmid: string, label: string, sizeMib: number): Promise<void> {
    const rt = this.get(vmid);
    if (rt.state !== 'STOPPED') throw conflict('Please stop the guest first');
    const disc = rt.def.discs.find((d) => d.label === label);
    if (!disc) throw notFound(`VM '${rt.def.name}' has no disc '${label}'`);
    if (sizeMib < disc.size_mib) throw notAcceptable(`disc '${label}' can only grow (now ${disc.size_mib} MiB)`);
    await this.exclusive(rt, 'resizing a disc', () => this.inGroup(rt.def.gid, async () => {
      this.checkQuota(rt.def.gid, { disk_mib: sizeMib - disc.size_mib });
      await this.discTool(`resizing disc '${label}'`, () => this.d.discs.resizeDisc(this.discPath(rt.def, label, disc.storage_grade), sizeMib));
      await this.commit(rt, { ...rt.def, discs: rt.def.discs.map((d) => (d === disc ? { ...d, size_mib: sizeMib } : d)) });
    }));
  }

  async delete(vmid: string, force: boolean): Promise<void> {
    const rt = this.get(vmid);
    this.assertIdle(rt);
    if (rt.state !== 'STOPPED') {
      if (!force) throw conflict(`VM '${rt.def.name}' is ${rt.state}: stop it first or delete with force`);
      await this.setState(vmid, 'STOPPED', true);
    }
    await this.exclusive(rt, 'deleting', async () => {
      for (const disc of rt.def.discs) await rm(path.dirname(this.discPath(rt.def, disc.label, disc.storage_grade)), { recursive: true, force: true });
      await this.d.store.remove(vmid);
      this.vms.remove(rt);
    });
    this.d.events.publish('vm', { vmid, name: rt.def.name, gid: rt.def.gid, state: 'DELETED', previous: rt.state });
    this.d.log.info(`deleted VM ${rt.def.name} (${vmid})`);
  }

  /** Velocity's state request: RUNNING, PAUSED or STOPPED; the current state answers at once. */
  async setState(vmid: string, target: 'RUNNING' | 'PAUSED' | 'STOPPED', force: boolean): Promise<VmState> {
    const rt = this.get(vmid);
    this.assertIdle(rt);
    if (rt.state === target) return rt.state;
    if (target === 'PAUSED' && !this.d.driver.capabilities().pause) throw notAcceptable(`the ${this.d.driver.name} hypervisor cannot pause VMs`);
    if (target === 'PAUSED' && rt.state !== 'RUNNING') throw conflict(`VM '${rt.def.name}' is ${rt.state}: only a running VM can be paused`);
    return this.exclusive(rt, `${rt.state} -> ${target}`, async () => {
      if (target === 'RUNNING') await (rt.state === 'PAUSED' ? this.resume(rt) : this.start(rt));
      else if (target === 'PAUSED') await this.pause(rt);
      else await this.stop(rt, force);
      return rt.state;
    });
  }

  async reboot(vmid: string): Promise<VmState> {
    const rt = this.get(vmid);
    this.assertIdle(rt);
    if (rt.state !== 'RUNNING') throw conflict(`VM '${rt.def.name}' is ${rt.state}: only a running VM can be rebooted`);
    await this.hv(() => rt.handle!.reset());
    return rt.state;
  }

  /** Live state from the hypervisor, bounded by status_timeout_ms: a hung VM reads UNKNOWN. */
  async refresh(vmid: string): Promise<VmState> {
    const rt = this.get(vmid);
    if (!rt.handle || this.locks.holder(rt.def.vmid)) return rt.state;
    let status: RunStatus;
    try {
      status = await rt.handle.status(this.d.config.vm.status_timeout_ms);
    } catch {
      status = 'unknown';
    }
    if (status === 'stopped') {
      // The process is gone; its exit handler settles the state.
      await rt.handle.waitExit(6000);
      return rt.state;
    }
    const next: VmState = status === 'running' ? 'RUNNING' : status === 'paused' ? 'PAUSED' : 'UNKNOWN';
    if (rt.handle && next !== rt.state) this.transition(rt, next);
    return rt.state;
  }

  /** The block devices QEMU has attached now; [] for a stopped VM or a hypervisor that cannot tell. */
  async liveBlocks(vmid: string): Promise<BlockDevice[]> {
    const rt = this.get(vmid);
    if (!rt.handle) return [];
    return rt.handle.blockDevices(this.d.config.vm.status_timeout_ms).catch(() => []);
  }

  /** The guest agent of a running VM: 409 unless it is RUNNING, 406 where the hypervisor has none. */
  agent(vmid: string): GuestAgent {
    const rt = this.get(vmid);
    if (rt.state !== 'RUNNING' || !rt.handle) throw conflict(`VM '${rt.def.name}' is ${rt.state}: only a running VM has a guest agent to talk to`);
    if (!rt.handle.agent) throw notAcceptable(`the ${this.d.driver.name} hypervisor has no guest agent channel`);
    return rt.handle.agent;
  }

  /** Whether the VM's guest agent answers (within a second) and, when it does, the guest's addresses and OS. */
  agentInfo(vmid: string): Promise<AgentInfo> {
    const rt = this.get(vmid);
    const agent = rt.state === 'RUNNING' ? rt.handle?.agent : undefined;
    if (!agent) return Promise.resolve({ agent: false });
    const cached = this.agentInfos.get(agent);
    if (cached && Date.now() - cached.at < AGENT_INFO_TTL_MS) return cached.info;
    const info = agent.ping(AGENT_PING_MS).then(async (answers): Promise<AgentInfo> => {
      if (!answers) return { agent: false };
      const [addresses, os] = await Promise.all([
        agent.networkInterfaces(AGENT_PING_MS).catch(() => []),
        agent.osInfo(AGENT_PING_MS).catch(() => null),
      ]);
      return { agent: true, addresses, ...(os ? { os } : {}) };
    });
    this.agentInfos.set(agent, { at: Date.now(), info });
    return info;
  }

  /** Daemon shutdown: VMs keep running; only our connections to them close. */
  detachAll(): void {
    for (const rt of this.vms.all()) {
      rt.console?.detach();
      rt.handle?.detach();
    }
  }

  discPath(def: VmDefinition, label: string, grade: string): string {
    return path.join(this.d.config.storage_grades[grade], def.vmid, `${label}.${this.d.discs.discExtension}`);
  }

  /** What the driver cannot do is a 406 naming each field, before anything is created or started. */
  private supported(def: CheckedFields, prefix = ''): void {
    const problems = unsupported(this.d.driver.name, this.d.driver.capabilities(), def);
    if (problems.length > 0) throw notAcceptable(prefix + problems.join('; '));
  }

  private async bootFile(name: string): Promise<string> {
    IsoStore.check(name, 'kernel');
    const file = path.join(this.d.config.state_dir, BOOT_DIR, name);
    if (!(await stat(file).then((s) => s.isFile(), () => false))) throw notFound(`no boot file '${name}' in ${BOOT_DIR}`);
    return file;
  }

  private checkQuota(gid: string, add: { vms?: number; cpus?: number; memory_mib?: number; disk_mib?: number }): void {
    const quota = this.d.config.groups[gid]?.quota;
    if (!quota) return;
    const used = this.vms.usage(gid);
    for (const key of ['vms', 'cpus', 'memory_mib', 'disk_mib'] as const) {
      const limit = quota[key];
      const want = used[key] + (add[key] ?? 0);
      if (limit !== undefined && (add[key] ?? 0) > 0 && want > limit) {
        throw notAcceptable(`quota of group '${gid}' exceeded: ${key} ${want} > ${limit}`, 'quota_exceeded');
      }
    }
  }

  private async plan(def: VmDefinition, console: SegmentLog): Promise<LaunchPlan> {
    const dir = this.d.store.dirOf(def.vmid);
    const bridges = def.nics.map((n) => (n.type === 'BRIDGE' ? this.d.config.nics[n.host!]?.interface ?? null : null));
    if (def.nics.some((n) => n.type === 'BRIDGE')) {
      if (process.getuid?.() !== 0) throw notAcceptable('BRIDGE networking needs the daemon to run as root');
      for (const [i, br] of bridges.entries()) {
        if (def.nics[i].type !== 'BRIDGE') continue;
        if (!br || !(await this.d.driver.isBridge(br))) {
          throw notAcceptable(`nics/${i}: host NIC '${def.nics[i].host}' (${br ?? 'unset'}) is not a bridge on this host`);
        }
      }
    }
    return {
      // Store media are shared by every group: read-only to guests, also in definitions saved before that was enforced.
      def: { ...def, media: def.media.map((m) => ({ ...m, readonly: true })) },
      dir,
      discPaths: def.discs.map((d) => this.discPath(def, d.label, d.storage_grade)),
      mediaPaths: def.media.map((m) => this.d.isos.pathOf(m.mid)),
      bridges,
      kernelPath: def.kernel ? await this.bootFile(def.kernel) : undefined,
      initrdPath: def.initrd ? await this.bootFile(def.initrd) : undefined,
      accelerator: this.d.accelerator,
      consoleLog: console.current.path,
      ...((await stat(path.join(dir, SEED_FILE)).then((st) => st.isFile(), () => false)) ? { seedPath: path.join(dir, SEED_FILE) } : {}),
      natPrefix: this.d.config.provision.nat_net_prefix,
      firmware: def.type === 'EFI' && this.d.efi ? { code: this.d.efi.code, varsTemplate: this.d.efi.vars } : undefined,
    };
  }

  private async start(rt: Runtime): Promise<void> {
    // A definition made under another hypervisor (the host's driver changed) can ask for more.
    this.supported(rt.def, `VM '${rt.def.name}' cannot start under the ${this.d.driver.name} hypervisor: `);
    const log = await this.segments(rt.def.vmid);
    const plan = await this.plan(rt.def, log);
    for (const m of rt.def.media) if (!(await this.d.isos.exists(m.mid))) throw notFound(`media: image '${m.mid}' is no longer in the store`);
    this.transition(rt, 'STARTING');
    try {
      const handle = await this.d.driver.start(plan);
      this.attach(rt, handle);
      await this.attachConsole(rt, handle, false, log);
      rt.launchTime = new Date().toISOString();
      this.transition(rt, 'RUNNING');
    } catch (err) {
      this.transition(rt, 'STOPPED');
      throw new RpcError(500, (err as Error).message);
    }
  }

  private async pause(rt: Runtime): Promise<void> {
    this.transition(rt, 'PAUSING');
    await this.hv(() => rt.handle!.pause(), rt, 'RUNNING');
    this.transition(rt, 'PAUSED');
  }

  private async resume(rt: Runtime): Promise<void> {
    this.transition(rt, 'RESUMING');
    await this.hv(() => rt.handle!.resume(), rt, 'PAUSED');
    this.transition(rt, 'RUNNING');
  }

  private async stop(rt: Runtime, force: boolean): Promise<void> {
    const handle = rt.handle;
    if (!handle) {
      this.transition(rt, 'STOPPED');
      return;
    }
    const before = rt.state;
    this.transition(rt, 'STOPPING');
    try {
      if (!force) {
        await handle.powerdown();
        if (await handle.waitExit(this.d.config.vm.stop_timeout_s * 1000)) return;
        this.d.log.warn(`VM ${rt.def.name} ignored the power button for ${this.d.config.vm.stop_timeout_s} s: powering it off`);
      }
      await handle.kill();
    } catch (err) {
      if (rt.handle) this.transition(rt, before);
      throw new RpcError(500, `stopping VM '${rt.def.name}' failed: ${(err as Error).message}`);
    }
    if (!(await handle.waitExit(5000))) throw new RpcError(500, `VM '${rt.def.name}' did not exit`);
  }

  /** Runs a hypervisor call; its failure is a 500 with the hypervisor's words, the VM left as it was. */
  private async hv(call: () => Promise<void>, rt?: Runtime, back?: VmState): Promise<void> {
    try {
      await call();
    } catch (err) {
      if (rt && back && rt.handle) this.transition(rt, back);
      throw new RpcError(500, err instanceof HypervisorError || err instanceof Error ? err.message : String(err));
    }
  }

  private attach(rt: Runtime, handle: VmHandle): void {
    rt.handle = handle;
    handle.on('status', (s: RunStatus) => {
      if (this.locks.holder(rt.def.vmid) || rt.handle !== handle) return;
      if (s === 'paused' && rt.state === 'RUNNING') this.transition(rt, 'PAUSED');
      if (s === 'running' && rt.state === 'PAUSED') this.transition(rt, 'RUNNING');
    });
    handle.once('exit', () => {
      if (rt.handle !== handle) return;
      void rt.console?.close();
      rt.console = null;
      void this.detachSeed(rt);
      rt.handle = null;
      rt.launchTime = null;
      this.transition(rt, 'STOPPED');
      this.d.log.info(`VM ${rt.def.name} (${rt.def.vmid}) stopped`);
    });
  }

  /** The running VM's serial console (409 when it is not running, 501 where the hypervisor has none to follow). */
  console(vmid: string): SerialConsole {
    const rt = this.get(vmid);
    if (!rt.handle) throw conflict(`VM '${rt.def.name}' is ${rt.state}: its console is there while it runs (its log: console log)`);
    if (!rt.handle.serial) throw new RpcError(501, `the ${this.d.driver.name} hypervisor's console cannot be attached to by hyved yet`);
    if (!rt.console) throw conflict(`VM '${rt.def.name}' console is not ready yet`);
    return rt.console;
  }

  /** Where the running VM's VNC server is (409 when not running, 404 without a display). */
  display(vmid: string): NetConnectOpts {
    const rt = this.get(vmid);
    if (!rt.handle) throw conflict(`VM '${rt.def.name}' is ${rt.state}: its display is there while it runs`);
    if (!rt.handle.display) throw notFound(`VM '${rt.def.name}' has no display${rt.def.displays.length ? ` the ${this.d.driver.name} hypervisor lets hyved bridge yet` : ''}`);
    return rt.handle.display;
  }

  /** Serial output from `since` (default: the last `limit` bytes), running or not. */
  async consoleLog(vmid: string, since: number | undefined, limit: number): Promise<{ offset: number; end: number; data: Buffer }> {
    const rt = this.get(vmid);
    if (rt.console) {
      const { offset, data } = await rt.console.read(since, limit);
      return { offset, end: rt.console.offset, data };
    }
    const log = await this.segments(vmid);
    const end = await log.end();
    const { offset, data } = await log.read(since ?? Math.max(0, end - limit), limit);
    return { offset, end, data };
  }

  private segments(vmid: string): Promise<SegmentLog> {
    return SegmentLog.forVm(this.d.store.dirOf(vmid), this.d.config.console.segments);
  }

  /**
   * `moveLog`: point the hypervisor at the current segment (a VM adopted from an earlier daemon).
   * `log`: the one the start opened for the launch plan.
   */
  private async attachConsole(rt: Runtime, handle: VmHandle, moveLog: boolean, log?: SegmentLog): Promise<void> {
    if (!handle.serial) return;
    log ??= await this.segments(rt.def.vmid);
    const c = this.d.config.console;
    try {
      if (moveLog) await handle.serial.switchLog(log.current.path);
      const console = new SerialConsole({
        log,
        port: handle.serial,
        ringBytes: c.ring_bytes,
        segmentBytes: c.segment_bytes,
        viewerBufferBytes: c.viewer_buffer_bytes,
        logger: this.d.log,
        resizeGuest: handle.agent ? (cols, rows) => handle.agent!.setConsoleSize(cols, rows) : undefined,
        onTakeover: (by, from) => this.d.events.publish('audit', { vmid: rt.def.vmid, gid: rt.def.gid, event: 'console-takeover', user: by, from }),
      });
      await console.start();
      if (rt.handle === handle) rt.console = console;
      else await console.close();
    } catch (err) {
      this.d.log.error(`VM ${rt.def.name} (${rt.def.vmid}): cannot follow its console: ${(err as Error).message}`);
    }
  }

  /**
   * The seed stays attached until the guest has booted from it: it goes at the first stop of a run
   * that lasted `seed_detach_after_s`. (cloud-init runs once per instance-id anyway; removing the
   * seed keeps the firstboot script and password hash from lying about.)
   */
  private async detachSeed(rt: Runtime): Promise<void> {
    const ran = rt.launchTime ? (Date.now() - Date.parse(rt.launchTime)) / 1000 : 0;
    if (ran < this.d.config.provision.seed_detach_after_s) return;
    const seed = path.join(this.d.store.dirOf(rt.def.vmid), SEED_FILE);
    if (await rm(seed).then(() => true, () => false)) this.d.log.info(`VM ${rt.def.name} (${rt.def.vmid}) has booted from its cloud-init seed: detached`);
  }

  private transition(rt: Runtime, state: VmState): void {
    const previous = rt.state;
    if (previous === state) return;
    rt.state = state;
    this.publish(rt, state, previous);
  }

  private publish(rt: Runtime, state: VmState, previous: VmState | null): void {
    this.d.events.publish('vm', { vmid: rt.def.vmid, name: rt.def.name, gid: rt.def.gid, state, previous });
  }
}

/** A locally administered unicast MAC in QEMU's 52:54:00 range, the same for a VM's nic every time. */
function stableMac(vmid: string, index: number): string {
  const h = createHash('sha256').update(`${vmid}/${index}`).digest();
  return ['52', '54', '00', ...[0, 1, 2].map((i) => h[i].toString(16).padStart(2, '0'))].join(':');
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

