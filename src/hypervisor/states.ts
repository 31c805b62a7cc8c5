import type { VmAction, VmState } from '../core/api.gen.js';

/** One edge of the VM state machine: asked for by a client (`action`) or happening by itself. */
export interface Transition {
  from: VmState;
  to: VmState | 'DELETED';
  /** The client's action that takes this edge; absent when the engine or the guest takes it. */
  action?: VmAction;
  /** A driver capability the action needs (bhyve cannot pause). */
  needs?: 'pause';
}

/**
 * Velocity's states and Deltacloud's actions as one table: the engine offers the actions of a
 * state from here, and the published graphs (Deltacloud's instance_states) are generated from it,
 * so what is documented cannot drift from what is allowed.
 */
export const VM_TRANSITIONS: readonly Transition[] = [
  { from: 'STOPPED', to: 'STARTING', action: 'start' },
  { from: 'STOPPED', to: 'DELETED', action: 'delete' },
  { from: 'STARTING', to: 'RUNNING' },
  { from: 'STARTING', to: 'STOPPED' },
  { from: 'RUNNING', to: 'STOPPING', action: 'stop' },
  { from: 'RUNNING', to: 'RUNNING', action: 'reboot' },
  { from: 'RUNNING', to: 'PAUSING', action: 'pause', needs: 'pause' },
  // The guest powered itself off.
  { from: 'RUNNING', to: 'STOPPED' },
  { from: 'PAUSING', to: 'PAUSED' },
  { from: 'PAUSED', to: 'RESUMING', action: 'resume' },
  { from: 'PAUSED', to: 'STOPPING', action: 'stop' },
  { from: 'RESUMING', to: 'RUNNING' },
  { from: 'STOPPING', to: 'STOPPED' },
  // QEMU does not answer: only a stop (which ends in a power-off) can help.
  { from: 'UNKNOWN', to: 'STOPPING', action: 'stop' },
];

/** The actions a client may ask for in `state`, given what the driver can do. */
export function actionsIn(state: VmState, caps: { pause: boolean }): VmAction[] {
  return VM_TRANSITIONS.filter((t) => t.from === state && t.action && (t.needs === undefined || caps[t.needs])).map((t) => t.action!);
}
