import { constants } from 'node:fs';
import { access, open, readFile } from 'node:fs/promises';

/**
 * KVM only where it can work: /dev/kvm opens read-write and the CPU shows vmx or svm. (On the CI
 * machines /dev/kvm exists without either flag, and KVM guests hang there.)
 */
export async function detectAccelerator(pref: 'auto' | 'kvm' | 'tcg'): Promise<'kvm' | 'tcg'> {
  if (pref !== 'auto') return pref;
  try {
    const fh = await open('/dev/kvm', 'r+');
    await fh.close();
  } catch {
    return 'tcg';
  }
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  return /^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo) ? 'kvm' : 'tcg';
}

export async function readable(file: string): Promise<boolean> {
  return access(file, constants.R_OK).then(() => true, () => false);
}
