import type { VmDefinition } from './types.js';

/** What a group's VMs hold against its quota. */
export interface Usage { vms: number; cpus: number; memory_mib: number; disk_mib: number }

/**
 * Names order as `localeCompare` ordered them (the host's default collation), at a fraction of its
 * cost per comparison; strings the collation calls equal fall back to code units, so the order is total.
 * Made on first use: ICU's collation data weighs 2.6 MB of resident memory in a daemon without VMs.
 */
let collator: Intl.Collator | null = null;

export function compareNames(a: string, b: string): number {
  collator ??= new Intl.Collator();
  return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

interface Group<T> {
  /**
   * The engine refuses a second VM of one name in a group, but definitions copied by hand may
   * bring one from disk: both are listed, and the name finds the first loaded.
   */
  byName: Map<string, T>;
  /** By name (compareNames), kept so on every change: a list is a copy, not a sort. */
  sorted: T[];
  usage: Usage;
}

/**
 * The VMs by vmid, by name within their group, each group's in name order, and each group's
 * usage. Every change of a VM's definition goes through here, so none of them needs a scan of
 * every VM (10,000 definitions made each create, quota check and list cost a pass over all).
 */
export class VmIndex<T extends { def: VmDefinition }> {
  private readonly byId = new Map<string, T>();
  private readonly groups = new Map<string, Group<T>>();
  /** The highest numeric ids of VMs and discs (Bytemark's), recounted only after their holder went. */
  private highest = { vm: 0, disc: 0 };
  private highestStale = false;

  get size(): number {
    return this.byId.size;
  }

  get(vmid: string): T | undefined {
    return this.byId.get(vmid);
  }

  all(): IterableIterator<T> {
    return this.byId.values();
  }

  byName(gid: string, name: string): T | undefined {
    return this.groups.get(gid)?.byName.get(name);
  }

  /** The group's VMs in name order: the index's own array, not to be changed by the caller. */
  list(gid: string): readonly T[] {
    return this.groups.get(gid)?.sorted ?? [];
  }

  /** The highest `num` of any VM and of any disc: the next ones are above them. */
  highestNums(): { vm: number; disc: number } {
    if (this.highestStale) {
      this.highestStale = false;
      this.highest = { vm: 0, disc: 0 };
      for (const rt of this.byId.values()) this.raiseHighest(rt.def);
    }
    return { ...this.highest };
  }

  private raiseHighest(def: VmDefinition): void {
    this.highest.vm = Math.max(this.highest.vm, def.num ?? 0);
    for (const d of def.discs) this.highest.disc = Math.max(this.highest.disc, d.num ?? 0);
  }

  usage(gid: string): Usage {
    return { ...(this.groups.get(gid)?.usage ?? zero()) };
  }

  add(rt: T): void {
    const { vmid, gid, name } = rt.def;
    if (this.byId.has(vmid)) throw new Error(`vmid '${vmid}' is already indexed`);
    let group = this.groups.get(gid);
    if (!group) this.groups.set(gid, (group = { byName: new Map(), sorted: [], usage: zero() }));
    this.byId.set(vmid, rt);
    if (!group.byName.has(name)) group.byName.set(name, rt);
    group.sorted.splice(position(group.sorted, name, true), 0, rt);
    count(group.usage, rt.def, 1);
    this.raiseHighest(rt.def);
  }

  remove(rt: T): void {
    if (this.byId.get(rt.def.vmid) !== rt) return;
    const { gid, name } = rt.def;
    const group = this.groups.get(gid)!;
    this.byId.delete(rt.def.vmid);
    const first = position(group.sorted, name);
    const at = group.sorted.indexOf(rt, first);
    group.sorted.splice(at, 1);
    if (group.byName.get(name) === rt) {
      // Another VM of the same name (from disk) now answers to it.
      const same = group.sorted[first];
      if (same?.def.name === name) group.byName.set(name, same);
      else group.byName.delete(name);
    }
    count(group.usage, rt.def, -1);
    if ((rt.def.num ?? 0) >= this.highest.vm || rt.def.discs.some((d) => (d.num ?? 0) >= this.highest.disc)) this.highestStale = true;
    if (group.sorted.length === 0) this.groups.delete(rt.def.gid);
  }

  /** Gives `rt` its new definition (saved already), moving it in the name order and the usage. */
  replace(rt: T, next: VmDefinition): void {
    if (next.vmid !== rt.def.vmid) throw new Error('a VM keeps its vmid');
    this.remove(rt);
    rt.def = next;
    this.add(rt);
  }
}

function zero(): Usage {
  return { vms: 0, cpus: 0, memory_mib: 0, disk_mib: 0 };
}

function count(usage: Usage, def: VmDefinition, sign: 1 | -1): void {
  usage.vms += sign;
  usage.cpus += sign * def.cpus;
  usage.memory_mib += sign * def.memory_mib;
  for (const d of def.discs) usage.disk_mib += sign * d.size_mib;
}

/** The first index in `sorted` whose name is not before `name` (`after`: whose name is after it). */
function position<T extends { def: VmDefinition }>(sorted: readonly T[], name: string, after = false): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareNames(sorted[mid].def.name, name);
    if (c < 0 || (after && c === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
