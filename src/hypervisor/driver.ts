import type { EventEmitter } from 'node:events';
import type { NetConnectOpts } from 'node:net';
import type { GuestAgent } from './agent.js';
import type { DriverCapabilities, LaunchPlan, VmDefinition } from './types.js';

/** What the hypervisor says about a running VM. */
export type RunStatus = 'running' | 'paused' | 'stopped' | 'unknown';

/**
 * A VM process under a driver. Emits 'status' (RunStatus) when the hypervisor reports a change
 * made outside our requests (a guest pause, a resume from a monitor) and 'exit' once when the
 * process is gone, however it went.
 */
export interface VmHandle extends EventEmitter {
  readonly pid: number;
  /** The guest agent's channel, where the hypervisor has one (QEMU); absent under bhyve. */
  readonly agent?: GuestAgent;
  status(timeoutMs?: number): Promise<RunStatus>;
  /** What the hypervisor has attached right now (QMP query-block); [] where it cannot tell. */
  blockDevices(timeoutMs?: number): Promise<BlockDevice[]>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  reset(): Promise<void>;
  /** ACPI power button; resolves when the request is delivered, not when the guest is off. */
  powerdown(): Promise<void>;
  /** Immediate power-off. */
  kill(): Promise<void>;
  /** Resolves when the process has exited, or false after `timeoutMs`. */
  waitExit(timeoutMs: number): Promise<boolean>;
  /** Where the VM's VNC server listens; null without a display. */
  readonly display: NetConnectOpts | null;
  /** null where the hypervisor's console cannot be followed this way (bhyve's nmdm). */
  readonly serial: SerialPort | null;
  /** Lets go of the VM (daemon shutdown) without stopping it. */
  detach(): void;
}

/** Where a running VM's serial console is reached; its output goes to the segment files (console/segments.ts). */
export interface SerialPort {
  /** Unix socket taking the guest's serial input. */
  readonly socketPath: string;
  /** Makes the hypervisor append the guest's output to `file` from now on, without losing a byte. */
  switchLog(file: string): Promise<void>;
}

export interface BlockDevice { device: string; file: string | null; readonly: boolean; removable: boolean }

export class HypervisorError extends Error {}

export interface Driver {
  readonly name: string;
  capabilities(): DriverCapabilities;
  /** Whether the host interface is a bridge a BRIDGE nic can join: each host tells in its own way. */
  isBridge(iface: string): Promise<boolean>;
  start(plan: LaunchPlan): Promise<VmHandle>;
  /** Reconnects to a VM left running by an earlier daemon; null if it is not running. */
  adopt(def: VmDefinition, dir: string): Promise<VmHandle | null>;
}
