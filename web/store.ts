import { useEffect, useState } from 'preact/hooks';
import { Api } from './api.js';

export interface VmRow { vmid: string; name: string; gid: string; cpus: number; memory_mib: number; state: string; actions?: string[] }

/** What a VM's row shows: rows whose key is unchanged are left alone. */
export const rowKey = (v: VmRow) => `${v.name}|${v.state}|${v.cpus}|${v.memory_mib}|${(v.actions ?? []).join()}`;

/**
 * How many VM rows re-render in one frame; the rest wait for the next. A list reload that changes
 * the buttons of 200 rows then takes a few short frames instead of one long one: on a loaded
 * machine every millisecond of work stretches into several of the page not answering.
 */
const ROWS_PER_FRAME = 40;
export interface Group { gid: string; description?: string }
export interface Task {
  process_id: string;
  state: 'pending' | 'running' | 'finished';
  action?: string;
  filename?: string;
  description?: string;
  result?: string;
  error?: string;
  progress?: { percent: number | null; bytes: number | null; total: number | null; rate: number | null };
  commands?: string[];
  gid?: string;
}
export interface ActionSchema { permission: unknown; may_write?: boolean; args: Record<string, unknown>; result: unknown }
export type Schemas = Record<string, Record<string, ActionSchema>> & { $defs?: Record<string, unknown> };

/**
 * What the dashboard knows, kept current by events. Views read it and re-render on `changed`,
 * at most once per animation frame however many events arrive (200 VMs changing state at once).
 * A VM's state or actions changing is narrower: only the views watching that VM re-render
 * (`watchRow`), so a state change costs one row, not the list.
 */
export class Store {
  readonly api = new Api();
  groups: Group[] = [];
  vms = new Map<string, VmRow[]>();
  schemas: Schemas = {};
  definitions: Record<string, unknown> = {};
  tasks = new Map<string, Task>();
  version = 0;
  private readonly listeners = new Set<() => void>();
  private readonly rowListeners = new Map<string, Set<() => void>>();
  private dirtyRows = new Set<string>();
  private dirtyAll = false;
  private frame = 0;
  private readonly reloads = new Map<string, { timer: ReturnType<typeof setTimeout> | undefined; running: boolean; again: boolean }>();

  constructor() {
    this.api.on((name, args) => {
      if (name === 'vm') this.onVm(args as unknown as VmRow);
      if (name === 'dispatcher') this.onTask(args as unknown as Task);
    });
    this.api.onGap = () => void this.load();
  }

  /** Whether the signed-in user may call `ns/name` `action`: rpc/schema lists only those. */
  can(key: string, action: string): boolean {
    return Boolean(this.schemas[key]?.[action]);
  }

  /** Whether the user may also use the action's state-changing form (vm state: vm.state, not just vm.view). */
  canChange(key: string, action: string): boolean {
    return this.can(key, action) && this.schemas[key][action].may_write !== false;
  }

  changed(): void {
    this.dirtyAll = true;
    this.schedule();
  }

  /** One VM's row changed in place (state, actions). */
  rowChanged(vmid: string): void {
    this.dirtyRows.add(vmid);
    this.schedule();
  }

  private schedule(): void {
    this.frame ||= requestAnimationFrame(() => this.flush());
  }

  private flush(): void {
    this.frame = 0;
    let n = 0;
    for (const vmid of this.dirtyRows) {
      if (n++ === ROWS_PER_FRAME) {
        this.schedule();
        break;
      }
      this.dirtyRows.delete(vmid);
      for (const fn of this.rowListeners.get(vmid) ?? []) fn();
    }
    if (!this.dirtyAll) return;
    this.dirtyAll = false;
    this.version++;
    for (const fn of this.listeners) fn();
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  watchRow(vmid: string, fn: () => void): () => void {
    const set = this.rowListeners.get(vmid) ?? new Set();
    this.rowListeners.set(vmid, set.add(fn));
    return () => {
      set.delete(fn);
      if (!set.size) this.rowListeners.delete(vmid);
    };
  }

  async load(): Promise<void> {
    this.schemas = await this.api.call<Schemas>('rpc', 'schema', {});
    await this.api.subscribe(['vm']);
    // Task progress needs task.view; without it the dashboard shows no progress rather than failing.
    await this.api.subscribe(['dispatcher']).catch(() => {});
    if (this.can('sysadm/vm', 'definitions')) {
      this.definitions = await this.api.call('sysadm', 'vm', { action: 'definitions' });
      this.groups = (this.definitions.groups as Group[] | undefined) ?? [];
    }
    await Promise.all(this.groups.map((g) => this.loadGroup(g.gid)));
    if (this.can('rpc/dispatcher', 'list')) await this.loadTasks();
    this.changed();
  }

  async loadGroup(gid: string): Promise<void> {
    const r = await this.api.call<{ vms: VmRow[] }>('sysadm', 'vm', { action: 'list', gid });
    const fresh = r.vms.map((v) => ({ ...v, gid }));
    const rows = this.vms.get(gid);
    // The same VMs in the same order: only the rows that show something new change.
    if (rows?.length === fresh.length && rows.every((v, i) => v.vmid === fresh[i].vmid)) {
      for (const [i, v] of fresh.entries()) {
        if (rowKey(rows[i]) === rowKey(v)) continue;
        Object.assign(rows[i], v);
        this.rowChanged(v.vmid);
      }
      return;
    }
    this.vms.set(gid, fresh);
    this.changed();
  }

  async loadTasks(): Promise<void> {
    const r = await this.api.call<{ jobs: Record<string, Record<string, Task & { queue_position: string }>> }>('rpc', 'dispatcher', { action: 'list' });
    this.tasks.clear();
    for (const system of Object.values(r.jobs)) for (const [id, t] of Object.entries(system)) this.tasks.set(id, { ...t, process_id: id });
    this.changed();
  }

  private onVm(e: VmRow): void {
    const rows = this.vms.get(e.gid);
    const row = rows?.find((v) => v.vmid === e.vmid);
    if (row && row.state !== e.state) {
      row.state = e.state;
      this.rowChanged(e.vmid);
    }
    // A new or deleted VM, and the actions the new state allows, come with the group's list.
    this.reloadSoon(e.gid);
  }

  /**
   * One list reload per group at a time, 150 ms after the last event: a storm of state changes
   * (200 VMs started at once) costs a few reloads, not one per event.
   */
  private reloadSoon(gid: string): void {
    const r = this.reloads.get(gid) ?? { timer: undefined, running: false, again: false };
    this.reloads.set(gid, r);
    if (r.running) {
      r.again = true;
      return;
    }
    clearTimeout(r.timer);
    r.timer = setTimeout(async () => {
      r.running = true;
      await this.loadGroup(gid).catch(() => {});
      r.running = false;
      if (r.again) {
        r.again = false;
        this.reloadSoon(gid);
      }
    }, 150);
  }

  private onTask(e: Task): void {
    const prev = this.tasks.get(e.process_id);
    this.tasks.set(e.process_id, { ...prev, ...e });
    this.changed();
  }
}

export const store = new Store();

/** Re-renders the calling component whenever the store changes. */
export function useStore(): Store {
  const [, setVersion] = useState(store.version);
  useEffect(() => {
    const off = store.subscribe(() => setVersion(store.version));
    // Effects run after paint: a change between the render and here would wait for the next one.
    setVersion(store.version);
    return off;
  }, []);
  return store;
}

/** Re-renders the calling component whenever the VM's row changes in place. */
export function useRow(vmid: string): void {
  const [, tick] = useState(0);
  useEffect(() => store.watchRow(vmid, () => tick((n) => n + 1)), [vmid]);
}
