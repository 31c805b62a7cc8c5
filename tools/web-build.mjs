// Bundles the dashboard (web/) into dist/web: content-hashed assets, an index.html naming them,
// and gzip/brotli copies beside each file so the daemon never compresses per request.
import { build } from 'esbuild';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist/web');
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });

const result = await build({
  entryPoints: { app: path.join(root, 'web/main.ts') },
  bundle: true,
  // Splitting keeps xterm and noVNC out of the first load: they come with the first console.
  splitting: true,
  format: 'esm',
  target: 'es2022',
  minify: process.env.HYVED_WEB_MINIFY !== '0',
  sourcemap: false,
  outdir: out,
  entryNames: '[name]-[hash]',
  chunkNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  loader: { '.woff2': 'file', '.svg': 'file' },
  metafile: true,
  legalComments: 'eof',
  logLevel: 'warning',
});

const outputs = Object.entries(result.metafile.outputs);
const entry = (ext) => outputs.find(([file, o]) => o.entryPoint && file.endsWith(ext))?.[0] ?? outputs.find(([file]) => /\/app-[^/]*\.css$/.test(file) && ext === '.css')?.[0];
const js = path.basename(entry('.js'));
const cssFile = entry('.css');
const css = cssFile ? path.basename(cssFile) : null;
const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>hyved</title>
${css ? `<link rel="stylesheet" href="/assets/${css}">\n` : ''}<script type="module" src="/assets/${js}"></script>
</head>
<body>
<div id="app"><p>Loading hyved…</p></div>
<noscript>The hyved dashboard needs JavaScript.</noscript>
</body>
</html>
`;
await writeFile(path.join(out, 'index.html'), html);

for (const name of await readdir(out)) {
  if (!/\.(html|js|css|svg)$/.test(name)) continue;
  const data = await readFile(path.join(out, name));
  await writeFile(path.join(out, `${name}.gz`), zlib.gzipSync(data, { level: 9 }));
  await writeFile(path.join(out, `${name}.br`), zlib.brotliCompressSync(data, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }));
}
