/**
 * Ethernet frames a guest could send, built by hand: what a root guest can put on its nic whatever
 * its kernel's routing says. Checksums are real, so passt takes them as a guest's own.
 */

const GUEST_MAC = Buffer.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
const PEER_MAC = Buffer.from([0x02, 0xfc, 0x00, 0x00, 0x00, 0x01]);

function sum16(buf: Buffer, start = 0): number {
  let s = start;
  for (let i = 0; i + 1 < buf.length; i += 2) s += buf.readUInt16BE(i);
  if (buf.length % 2) s += buf[buf.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
const checksum = (buf: Buffer, start = 0) => ~sum16(buf, start) & 0xffff;

function ipv4Bytes(a: string): Buffer {
  return Buffer.from(a.split('.').map(Number));
}

function ipv6Bytes(a: string): Buffer {
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  const text = v4 ? a.slice(0, -v4[1].length) + (() => {
    const b = ipv4Bytes(v4[1]);
    return `${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  })() : a;
  const [head, tail = ''] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const words = text.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(parseInt(w, 16), i * 2));
  return out;
}

function tcpSyn(srcPort: number, dstPort: number): Buffer {
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(srcPort, 0);
  tcp.writeUInt16BE(dstPort, 2);
  tcp.writeUInt32BE(0x1000, 4); // sequence number
  tcp[12] = 5 << 4; // header length: 5 words
  tcp[13] = 0x02; // SYN
  tcp.writeUInt16BE(64240, 14); // window
  return tcp;
}

function ether(type: number, payload: Buffer): Buffer {
  const t = Buffer.alloc(2);
  t.writeUInt16BE(type);
  return Buffer.concat([PEER_MAC, GUEST_MAC, t, payload]);
}

/** A TCP SYN from the guest's src to dst:port, over IPv4 or IPv6 by the form of the addresses. */
export function synFrame(src: string, dst: string, dstPort: number, srcPort = 40000 + (dstPort % 20000)): Buffer {
  const tcp = tcpSyn(srcPort, dstPort);
  if (!dst.includes(':')) {
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + tcp.length, 2);
    ip[8] = 64; // TTL
    ip[9] = 6; // TCP
    ipv4Bytes(src).copy(ip, 12);
    ipv4Bytes(dst).copy(ip, 16);
    ip.writeUInt16BE(checksum(ip), 10);
    const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, 6, 0, tcp.length])]);
    tcp.writeUInt16BE(checksum(Buffer.concat([pseudo, tcp])), 16);
    return ether(0x0800, Buffer.concat([ip, tcp]));
  }
  const ip = Buffer.alloc(40);
  ip[0] = 0x60;
  ip.writeUInt16BE(tcp.length, 4);
  ip[6] = 6; // next header: TCP
  ip[7] = 64; // hop limit
  ipv6Bytes(src).copy(ip, 8);
  ipv6Bytes(dst).copy(ip, 24);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(tcp.length);
  const pseudo = Buffer.concat([ip.subarray(8, 40), len, Buffer.from([0, 0, 0, 6])]);
  tcp.writeUInt16BE(checksum(Buffer.concat([pseudo, tcp])), 16);
  return ether(0x86dd, Buffer.concat([ip, tcp]));
}

/** A frame as QEMU's stream netdev sends it: its length, 4 bytes big-endian, then the frame. */
export function record(frame: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(frame.length);
  return Buffer.concat([len, frame]);
}

/** The same frame behind an 802.1Q tag. */
export function vlanTagged(frame: Buffer): Buffer {
  return Buffer.concat([frame.subarray(0, 12), Buffer.from([0x81, 0x00, 0x00, 0x05]), frame.subarray(12)]);
}

export const arpFrame = (): Buffer => ether(0x0806, Buffer.alloc(28));
