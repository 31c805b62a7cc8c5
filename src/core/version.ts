import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgFile = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../package.json');

export const VERSION: string = JSON.parse(readFileSync(pkgFile, 'utf8')).version;
