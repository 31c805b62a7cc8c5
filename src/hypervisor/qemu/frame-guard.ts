/**
 * What the frame guard lets through from a guest to passt. passt opens a host socket to whatever
 * address a guest's packet names, and `--no-map-gw` only stops the gateway being turned into
 * 127.0.0.1: with passt 0.0~git20230309, a root guest that routed 127.0.0.1 out of its nic still
 * reached a host service bound to 127.0.0.1. So frames whose destination is, or stands for, the
 * host's loopback never reach passt. Everything else passes, unchanged.
 */

const ETH_HEADER = 14;
const ETH_IPV4 = 0x0800;
const ETH_ARP = 0x0806;
const ETH_IPV6 = 0x86dd;

/** QEMU's stream netdev sends no frame bigger than its NET_BUFSIZE (4096 + 65536). */
export const MAX_FRAME = 69_632;

/**
 * 127.0.0.0/8 is loopback; 0.0.0.0/8 too, to the host: Linux connects a socket aimed at 0.0.0.0
 * to the local host.
 */
function ipv4Forbidden(frame: Buffer): boolean {
  const first = frame[ETH_HEADER + 16];
  return first === 127 || first === 0;
}

/**
 * ::/96 (::1, :: and the IPv4-compatible ::127.0.0.1) and ::ffff:0:0/96 (IPv4-mapped, which an
 * IPv6 socket on the host sends to IPv4, ::ffff:127.0.0.1 included). No guest has a use for them
 * on the wire.
 */
function ipv6Forbidden(frame: Buffer): boolean {
  const dst = ETH_HEADER + 24;
  for (let i = 0; i < 10; i++) if (frame[dst + i] !== 0) return false;
  const word = frame.readUInt16BE(dst + 10);
  return word === 0 || word === 0xffff;
}

/**
 * Whether a frame the guest sent may go on to passt. Only ARP, IPv4 and IPv6 pass (no VLAN tags,
 * which would hide the real header from this check); a truncated header never passes.
 */
export function guestFrameAllowed(frame: Buffer): boolean {
  if (frame.length < ETH_HEADER) return false;
  switch (frame.readUInt16BE(12)) {
    case ETH_ARP:
      return true;
    case ETH_IPV4:
      return frame.length >= ETH_HEADER + 20 && frame[ETH_HEADER] >> 4 === 4 && !ipv4Forbidden(frame);
    case ETH_IPV6:
      return frame.length >= ETH_HEADER + 40 && frame[ETH_HEADER] >> 4 === 6 && !ipv6Forbidden(frame);
    default:
      return false;
  }
}

/**
 * Cuts QEMU's stream netdev byte stream (each frame behind its 4-byte big-endian length) into
 * whole records, length included, so an allowed one is passed on as it came.
 */
export class FrameReader {
  private pending = Buffer.alloc(0);

  /** The records completed by `chunk`. Throws on a length no frame has: the stream is not QEMU's. */
  push(chunk: Buffer): Buffer[] {
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const records: Buffer[] = [];
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32BE(off);
      if (len > MAX_FRAME) throw new Error(`a frame of ${len} bytes: not a QEMU stream`);
      if (buf.length - off < 4 + len) break;
      records.push(buf.subarray(off, off + 4 + len));
      off += 4 + len;
    }
    // A copy: the rest must not keep the whole chunk alive.
    this.pending = Buffer.from(buf.subarray(off));
    return records;
  }
}
