import type { VmAction, VmState } from '../../core/api.gen.js';
import { VM_TRANSITIONS } from '../../hypervisor/states.js';

/** Deltacloud's instance states; its clients and tests know RUNNING, STOPPED and PENDING. */
export type DcState = 'PENDING' | 'RUNNING' | 'STOPPED';
export type DcAction = 'start' | 'stop' | 'reboot' | 'destroy';

/**
 * hyved's states as a Deltacloud client sees them. A transitional state shows as where the VM is
 * still (a stopping VM is running until it has stopped, as the seed warns), except a start in
 * progress, which is Deltacloud's PENDING. A paused VM runs no code: STOPPED, and `start` resumes it.
 */
export const STATE: Record<VmState, DcState> = {
  STOPPED: 'STOPPED',
  STARTING: 'PENDING',
  RUNNING: 'RUNNING',
  PAUSING: 'RUNNING',
  PAUSED: 'STOPPED',
  RESUMING: 'PENDING',
  STOPPING: 'RUNNING',
  UNKNOWN: 'RUNNING',
};

/** hyved's actions under Deltacloud's names; pause has none. */
export const ACTION: Record<VmAction, DcAction | null> = {
  start: 'start',
  resume: 'start',
  stop: 'stop',
  reboot: 'reboot',
  delete: 'destroy',
  pause: null,
};

export function dcActions(actions: VmAction[]): DcAction[] {
  return [...new Set(actions.map((a) => ACTION[a]).filter((a): a is DcAction => a !== null))];
}

export interface DcTransition { to: string; action?: string; auto?: true }
export interface DcStateNode { name: string; transitions: DcTransition[] }

const TRANSITIONAL = new Set<VmState>(['STARTING', 'PAUSING', 'RESUMING', 'STOPPING']);

/** Where a transitional state ends up when all goes well: its first automatic edge, followed. */
function settle(state: VmState | 'DELETED'): VmState | 'DELETED' {
  if (state === 'DELETED' || !TRANSITIONAL.has(state)) return state;
  return settle(VM_TRANSITIONS.find((t) => t.from === state && t.action === undefined)!.to);
}

function shown(state: VmState | 'DELETED'): string {
  if (state === 'DELETED') return 'finish';
  return (STATE[state] === 'PENDING' ? 'PENDING' : STATE[settle(state) as VmState]).toLowerCase();
}

/**
 * Deltacloud's instance_states graph, generated from the engine's own transition table (so what
 * is published cannot drift from what the engine allows): `start --create--> pending` (a create
 * starts the VM), then each of hyved's edges under Deltacloud's state and action names. Edges out
 * of a transitional state that shows as a stable one are that state's own business and left out.
 */
export function instanceStates(): DcStateNode[] {
  const nodes = new Map<string, DcTransition[]>([['start', [{ to: 'pending', action: 'create' }]]]);
  const add = (from: string, t: DcTransition) => {
    const list = nodes.get(from) ?? [];
    nodes.set(from, list);
    if (!list.some((x) => x.to === t.to && x.action === t.action && x.auto === t.auto)) list.push(t);
  };
  for (const t of VM_TRANSITIONS) {
    const from = STATE[t.from].toLowerCase();
    const to = shown(t.to);
    if (t.action !== undefined) {
      const action = ACTION[t.action];
      if (action !== null) add(from, { to, action });
    } else if ((!TRANSITIONAL.has(t.from) || STATE[t.from] === 'PENDING') && from !== to) {
      add(from, { to, auto: true });
    }
    if (!nodes.has(to)) nodes.set(to, []);
  }
  const order = ['start', 'pending', 'running', 'stopped', 'finish'];
  return [...nodes].map(([name, transitions]) => ({ name, transitions })).sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
}
