import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { ROOT } from './daemon.js';

export const FIXTURES = path.join(ROOT, 'test/fixtures/ovf');

export const fixture = (name: string) => readFile(path.join(FIXTURES, name), 'utf8');

/** A member: bytes in memory, or a file streamed in; `header` overrides tar-stream's (type, linkname, name). */
export interface Member { name: string; data?: Buffer | string; file?: string; header?: Partial<tar.Header> }

/** Writes a tar (an OVA when the descriptor comes first) with tar-stream, as an exporter would. */
export async function writeTar(out: string, members: Member[]): Promise<void> {
  const pack = tar.pack();
  const done = pipeline(pack, createWriteStream(out));
  for (const m of members) {
    if (m.file !== undefined) {
      const size = (await stat(m.file)).size;
      const entry = pack.entry({ name: m.name, size, ...m.header });
      await pipeline(createReadStream(m.file), entry);
    } else {
      const data = Buffer.from(m.data ?? '');
      await new Promise<void>((resolve, reject) => pack.entry({ name: m.name, size: data.length, ...m.header }, data, (err) => (err ? reject(err) : resolve())));
    }
  }
  pack.finalize();
  await done;
}

/** The descriptor, a SHA256 manifest of it and the disks, then the disks: an OVA as ovftool lays it out. */
export async function writeOva(out: string, ovfName: string, ovf: string, disks: Member[], algo: 'SHA256' | 'SHA1' = 'SHA256'): Promise<void> {
  const members: Member[] = [{ name: ovfName, data: ovf }, ...disks];
  const lines: string[] = [];
  for (const m of members) {
    const hash = createHash(algo === 'SHA256' ? 'sha256' : 'sha1');
    if (m.file !== undefined) await pipeline(createReadStream(m.file), hash);
    else hash.update(Buffer.from(m.data ?? ''));
    lines.push(`${algo}(${m.name})= ${hash.digest('hex')}\n`);
  }
  await writeTar(out, [members[0], { name: ovfName.replace(/\.ovf$/, '.mf'), data: lines.join('') }, ...disks]);
}
