import type { Stats } from 'node:fs';

/** Which version of a file a read saw: an atomic rename gives the file a new inode, also within one mtime tick. */
export function fileStampOf(st: Stats): string {
  return `${st.ino}:${st.mtimeMs}:${st.size}`;
}
