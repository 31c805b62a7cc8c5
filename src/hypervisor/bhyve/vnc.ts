import { createHash } from 'node:crypto';
import net from 'node:net';

/**
 * bhyve's fbuf serves VNC on TCP only, so every VM with a display needs a port of its own.
 *
 * The choice: 127.0.0.1 only (fbuf's VNC has at most an 8-character password; clients reach
 * the screen through the daemon, never straight from the network), and a port in
 * VNC_FIRST..VNC_FIRST+VNC_PORTS-1 derived from the vmid, so a VM finds its screen on the same
 * port start after start. When that port is taken (by another VM of this daemon, reserved from
 * the moment it is chosen so two starts never pick the same one, or by anything else listening
 * there, found by a test bind), the next port up is tried, wrapping round within the range.
 */
export const VNC_HOST = '127.0.0.1';
export const VNC_FIRST = 5900;
export const VNC_PORTS = 1000;

export function vncAddress(port: number): string {
  return `${VNC_HOST}:${port}`;
}

/** The port a VM gets when it is free: a pure function of the vmid. */
export function preferredVncPort(vmid: string): number {
  return VNC_FIRST + (createHash('sha256').update(vmid).digest().readUInt32BE(0) % VNC_PORTS);
}

/** Whether nothing listens on the port yet (bhyve binds it a moment later, so this is a hint, not a lock). */
export function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: VNC_HOST, port }, () => server.close(() => resolve(true)));
  });
}

/** The VNC ports this daemon's bhyve VMs hold. */
export class VncPorts {
  private readonly held = new Set<number>();

  constructor(private readonly free: (port: number) => Promise<boolean> = canBind) {}

  /** Reserves a port for the VM; release it when the VM is gone or fails to start. */
  async take(vmid: string): Promise<number> {
    const first = preferredVncPort(vmid) - VNC_FIRST;
    for (let i = 0; i < VNC_PORTS; i++) {
      const port = VNC_FIRST + ((first + i) % VNC_PORTS);
      if (this.held.has(port)) continue;
      this.held.add(port);
      if (await this.free(port)) return port;
      this.held.delete(port);
    }
    throw new Error(`no free VNC port in ${VNC_FIRST}-${VNC_FIRST + VNC_PORTS - 1} on ${VNC_HOST}`);
  }

  /** Marks a port as held by a VM found running (re-adopted). */
  hold(port: number): void {
    this.held.add(port);
  }

  release(port: number): void {
    this.held.delete(port);
  }
}
