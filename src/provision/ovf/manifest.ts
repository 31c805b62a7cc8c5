import { badRequest } from '../../core/errors.js';

export type DigestAlgorithm = 'sha1' | 'sha256' | 'sha512';

const ALGORITHMS: Record<string, { algo: DigestAlgorithm; hexLength: number }> = {
  SHA1: { algo: 'sha1', hexLength: 40 },
  SHA256: { algo: 'sha256', hexLength: 64 },
  SHA512: { algo: 'sha512', hexLength: 128 },
};

export interface ManifestEntry { file: string; algorithm: DigestAlgorithm; digest: string }

/** The largest manifest read: one line per file of a bounded member count. */
export const MANIFEST_MAX_BYTES = 1024 * 1024;

/** `SHA256(disk1.vmdk)= 0a1b...` lines (ovftool writes `= `, others `=`); anything else is a 400 naming the line. */
export function parseManifest(text: string, name = 'manifest'): ManifestEntry[] {
  const entries: ManifestEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    const m = /^(SHA1|SHA256|SHA512)\(([^()]+)\)\s*=\s*([0-9A-Fa-f]+)\s*$/.exec(line);
    const where = `${name} line ${i + 1}`;
    if (!m) throw badRequest(`${where}: not a line of the form SHA256(file)= hex digest`, [{ path: `/manifest/${i + 1}`, message: 'malformed' }]);
    const spec = ALGORITHMS[m[1]];
    if (m[3].length !== spec.hexLength) throw badRequest(`${where}: a ${m[1]} digest has ${spec.hexLength} hex digits, not ${m[3].length}`, [{ path: `/manifest/${i + 1}`, message: 'bad digest length' }]);
    if (entries.some((e) => e.file === m[2])) throw badRequest(`${where}: '${m[2]}' is listed twice`, [{ path: `/manifest/${i + 1}`, message: 'duplicate' }]);
    entries.push({ file: m[2], algorithm: spec.algo, digest: m[3].toLowerCase() });
  }
  return entries;
}

export function formatManifest(entries: { file: string; sha256: string }[]): string {
  return entries.map((e) => `SHA256(${e.file})= ${e.sha256}\n`).join('');
}
