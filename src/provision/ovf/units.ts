/**
 * OVF's programmatic units ("byte * 2^30", "byte*10^6") and the older names (0.9's "MegaBytes",
 * VirtualBox's "MB"), as a multiplier of bytes; null when not a unit of bytes.
 */
const NAMED: Record<string, number> = {
  byte: 1, bytes: 1, b: 1,
  kilobytes: 2 ** 10, kb: 2 ** 10, kib: 2 ** 10,
  megabytes: 2 ** 20, mb: 2 ** 20, mib: 2 ** 20,
  gigabytes: 2 ** 30, gb: 2 ** 30, gib: 2 ** 30,
  terabytes: 2 ** 40, tb: 2 ** 40, tib: 2 ** 40,
};

export function byteUnits(units: string): number | null {
  const u = units.trim().toLowerCase();
  if (Object.hasOwn(NAMED, u)) return NAMED[u];
  // byte * 2^30, byte * 1024, byte * 10^6 (OVF 1.x DSP0004 programmatic units)
  const m = /^bytes?\s*\*\s*(\d+)(?:\s*\^\s*(\d+))?$/.exec(u);
  if (!m) return null;
  const value = m[2] === undefined ? Number(m[1]) : Number(m[1]) ** Number(m[2]);
  return Number.isSafeInteger(value) && value > 0 ? value : null;
}

/** A non-negative integer written in decimal, or null. */
export function wholeNumber(text: string | undefined): number | null {
  if (text === undefined || !/^\s*\d{1,16}\s*$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}
