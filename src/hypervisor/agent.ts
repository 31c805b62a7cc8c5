/**
 * The guest agent as the rest of the daemon sees it (DESIGN §9): commands in the guest, its
 * addresses, its OS, the console size. A driver whose VMs have an agent channel provides one on
 * the VM handle; every call is bounded in time, so a silent guest never holds anything up.
 */

export interface ExecResult {
  /** The program's exit code; 128 + N when signal N ended it; null when it had not exited. */
  exitcode: number | null;
  stdout: string;
  stderr: string;
  /** It was still running at the deadline (and has been killed). */
  timedOut: boolean;
  /** stdout or stderr was cut at the output bound. */
  truncated: boolean;
}

export interface ExecOptions {
  /** Bytes given to the program on its standard input. */
  stdin?: string;
  /** How long the command may run, waiting for the agent included. */
  timeoutMs: number;
}

export interface GuestAddress {
  interface: string;
  mac: string | null;
  family: 'ipv4' | 'ipv6';
  address: string;
  prefix: number;
}

/** guest-get-osinfo with `_` for `-`: id, name, pretty_name, version, version_id, kernel_release, kernel_version, machine. */
export type GuestOsInfo = Record<string, string>;

export interface GuestAgent {
  /** Whether the agent answers within `timeoutMs`. Never throws. */
  ping(timeoutMs?: number): Promise<boolean>;
  /** Runs argv (or a shell command line, through /bin/sh -c) in the guest. */
  exec(command: string | string[], opts: ExecOptions): Promise<ExecResult>;
  /** The guest's addresses, loopback left out. */
  networkInterfaces(timeoutMs?: number): Promise<GuestAddress[]>;
  /** null when the agent does not implement guest-get-osinfo. */
  osInfo(timeoutMs?: number): Promise<GuestOsInfo | null>;
  /** Tells the guest's serial console its size (stty); true once done, false when no agent answers. */
  setConsoleSize(cols: number, rows: number): Promise<boolean>;
  /** Drops the connection (the VM has gone). */
  close(): void;
}

/** Nothing answered on the agent's channel in time. */
export class AgentUnavailable extends Error {}

/** The agent answered with an error (a command it does not know, a program that cannot run). */
export class AgentCommandError extends Error {
  constructor(
    readonly errorClass: string,
    message: string,
  ) {
    super(message);
  }
}
