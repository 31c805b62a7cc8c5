import type { FileHandle } from 'node:fs/promises';
import { badRequest } from '../../core/errors.js';

/** A regular file inside a tar: where its data starts, so qemu-img can read it in place (DESIGN §7). */
export interface TarMember { name: string; offset: number; size: number }

const BLOCK = 512;

function field(h: Buffer, start: number, length: number): string {
  const raw = h.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? length : end).toString('utf8');
}

/** Octal, or GNU's base-256 for sizes past 8 GiB. */
function number(h: Buffer, start: number, length: number): number {
  if (h[start] & 0x80) {
    let n = 0;
    for (let i = start + 1; i < start + length; i++) n = n * 256 + h[i];
    return n;
  }
  const text = field(h, start, length).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  return sum === number(h, 148, 8);
}

function paxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    const len = parseInt(data.subarray(pos, space).toString(), 10);
    if (space < 0 || !(len > 0)) break;
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}

/**
 * Walks the archive's headers only (positional reads, no data) to learn each regular member's data
 * offset, which tar-stream does not report. Pax (`x`) and GNU long-name (`L`) headers apply to
 * the next member, as tar-stream reads them; the caller compares both readings.
 */
export async function indexTar(fh: FileHandle, fileSize: number, maxMembers: number): Promise<TarMember[]> {
  const members: TarMember[] = [];
  const header = Buffer.alloc(BLOCK);
  let pos = 0;
  let longName: string | null = null;
  let pax: Record<string, string> = {};
  let headers = 0;
  while (pos + BLOCK <= fileSize) {
    await fh.read(header, 0, BLOCK, pos);
    if (header.every((b) => b === 0)) return members;
    if (!checksumOk(header)) throw badRequest(`OVA: damaged tar header at byte ${pos}`);
    if (++headers > maxMembers * 3) throw badRequest(`OVA: more than ${maxMembers} members`);
    const type = String.fromCharCode(header[156] || 0x30);
    const size = number(header, 124, 12);
    const dataAt = pos + BLOCK;
    if (dataAt + size > fileSize) throw badRequest(`OVA: truncated: a member at byte ${pos} runs past the end of the file`);
    if (type === 'x' || type === 'L') {
      if (size > 64 * 1024) throw badRequest(`OVA: an extended header of ${size} bytes at byte ${pos}`);
      const data = Buffer.alloc(size);
      await fh.read(data, 0, size, dataAt);
      if (type === 'L') longName = field(data, 0, size);
      else pax = paxRecords(data);
    } else if (type !== 'g') {
      const prefix = field(header, 345, 155);
      const name = pax.path ?? longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
      const realSize = pax.size !== undefined ? Number(pax.size) : size;
      if (type === '0' || type === '7') members.push({ name, offset: dataAt, size: realSize });
      longName = null;
      pax = {};
      pos = dataAt + Math.ceil(realSize / BLOCK) * BLOCK;
      continue;
    }
    pos = dataAt + Math.ceil(size / BLOCK) * BLOCK;
  }
  throw badRequest('OVA: truncated: the archive ends without its end-of-archive blocks');
}

/**
 * The first member's name and bytes (at most `maxBytes`), from its header alone: enough to show an
 * OVA's descriptor in a listing without reading the archive; `check` still reads it whole.
 */
export async function firstMember(fh: FileHandle, maxBytes: number): Promise<{ name: string; data: Buffer }> {
  const header = Buffer.alloc(BLOCK);
  const { bytesRead } = await fh.read(header, 0, BLOCK, 0);
  if (bytesRead < BLOCK || !checksumOk(header)) throw badRequest('OVA: not a tar archive');
  const size = number(header, 124, 12);
  if (size > maxBytes) throw badRequest(`OVA: the first member is ${size} bytes, over ${maxBytes}`);
  const data = Buffer.alloc(size);
  await fh.read(data, 0, size, BLOCK);
  const prefix = field(header, 345, 155);
  return { name: prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100), data };
}
