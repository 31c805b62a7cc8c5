import type { Config } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import type { UserStore } from '../store/users.js';
import type { Authenticator } from '../server/auth.js';
import type { EventHub } from '../core/events.js';
import type { Router } from '../server/router.js';
import type { TaskQueue } from '../queue/queue.js';
import type { IsoStore } from '../store/iso-store.js';
import type { VmEngine } from '../hypervisor/engine.js';

/** The daemon's long-lived parts, handed to every handler through its context. */
export interface Services {
  config: Config;
  log: Logger;
  users: UserStore;
  auth: Authenticator;
  events: EventHub;
  router: Router;
  tasks: TaskQueue;
  isos: IsoStore;
  vms: VmEngine;
  /** What the host offers: accelerator in use, EFI firmware, driver capabilities. */
  host: HostInfo;
  version: string;
}

export interface HostInfo {
  hypervisor: string;
  accelerator: 'kvm' | 'tcg';
  efi: boolean;
  pause: boolean;
  directBoot: boolean;
}
