// `npm run docs:config`: rewrites the README's configuration table and schemas/config.json from the
// key table in src/core/config.ts. Plain JavaScript on the build's output, because tsconfig.json
// compiles only src/, test/, bench/ and fuzz/.
import { readFileSync, writeFileSync } from 'node:fs';
import { CONFIG_SCHEMA } from '../dist/src/core/config.js';
import { spliceConfigTable } from '../dist/src/core/config-docs.js';

const readme = new URL('../README.md', import.meta.url);
writeFileSync(readme, spliceConfigTable(readFileSync(readme, 'utf8')));
writeFileSync(new URL('../schemas/config.json', import.meta.url), JSON.stringify(CONFIG_SCHEMA, null, 2) + '\n');
