import { useEffect, useState } from 'preact/hooks';
import { errorText, formatBytes, html } from './html.js';
import { DeployDialog } from './images.js';
import { Progress, TaskProgress } from './progress.js';
import { store, useStore } from './store.js';

/** A store's listing (`sysadm/<name> {action}` → `result[key]`), loaded once and on `reload`. */
function useListing<T>(name: string, action: string, key: string): [T[], string, (e: string) => void, () => void] {
  const [items, setItems] = useState<T[]>([]);
  const [error, setError] = useState('');
  const reload = () =>
    void store.api.call<Record<string, T[]>>('sysadm', name, { action }).then(
      (r) => setItems(r[key]),
      (e) => setError(errorText(e)),
    );
  useEffect(reload, []);
  return [items, error, setError, reload];
}

/**
 * Fetch by URL into a store: the form, then a progress bar per queued fetch from `dispatcher`
 * events. `start` queues one and answers its task id; `onDone` runs as each finishes.
 */
function FetchByUrl({ start, nameLabel, onDone }: { start: (url: string, name: string) => Promise<string>; nameLabel: string; onDone: () => void }) {
  const s = useStore();
  const [ids, setIds] = useState<string[]>([]);
  const [error, setError] = useState('');
  const done = ids.filter((id) => s.tasks.get(id)?.state === 'finished').join();
  useEffect(() => void (done && onDone()), [done]);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const data = new FormData(form);
    setError('');
    try {
      const id = await start(String(data.get('url')).trim(), String(data.get('name') ?? '').trim());
      setIds((f) => [...f, id]);
      form.reset();
    } catch (err) {
      setError(errorText(err));
    }
  };
  return html`<form class="inline" onSubmit=${submit} aria-label="Fetch from the web">
      <label>URL <input name="url" type="url" required placeholder="https://…" /></label>
      <label>${nameLabel} <input name="name" placeholder="(from the URL)" /></label>
      <button type="submit">Fetch</button>
    </form>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${ids.map((id) => html`<${TaskProgress} id=${id} key=${id} />`)}`;
}

export function IsoStore() {
  const s = useStore();
  const [isos, error, setError, reload] = useListing<{ name: string; size: number; modified: string }>('iohyve', 'listisos', 'isos');
  const fetchIso = async (url: string, name: string) =>
    (await store.api.call<{ fetchiso: { queueid: string } }>('sysadm', 'iohyve', { action: 'fetchiso', url, ...(name ? { name } : {}) })).fetchiso.queueid;
  const remove = async (name: string) => {
    if (!confirm(`Delete ${name}?`)) return;
    await store.api.call('sysadm', 'iohyve', { action: 'rmiso', name }).then(reload, (e) => setError(errorText(e)));
  };
  return html`<section aria-labelledby="isos-title">
    <h1 id="isos-title">ISO store</h1>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${s.can('sysadm/iohyve', 'fetchiso') && html`<${FetchByUrl} start=${fetchIso} nameLabel="Store as" onDone=${reload} />`}
    <div class="scroll"><table>
      <thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col">Modified</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>
      <tbody>
        ${isos.map(
          (i) => html`<tr data-iso=${i.name}><th scope="row">${i.name}</th><td>${formatBytes(i.size)}</td><td>${new Date(i.modified).toLocaleString()}</td>
            <td>${s.can('sysadm/iohyve', 'rmiso') && html`<button type="button" class="danger" aria-label=${`Delete ${i.name}`} onClick=${() => remove(i.name)}>Delete</button>`}</td></tr>`,
        )}
      </tbody>
    </table></div>
    ${isos.length === 0 && html`<p class="empty">The store is empty.</p>`}
  </section>`;
}

export function TaskList() {
  const s = useStore();
  const [error, setError] = useState('');
  const tasks = [...s.tasks.values()].reverse();
  const cancel = (id: string) => store.api.call('rpc', 'dispatcher', { action: 'kill', job_id: id }).catch((e) => setError(errorText(e)));
  return html`<section aria-labelledby="tasks-title">
    <h1 id="tasks-title">Tasks</h1>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${tasks.length === 0 && html`<p class="empty">No tasks.</p>`}
    <ul class="tasks">
      ${tasks.map(
        (t) => html`<li data-task-row=${t.process_id}>
          <span class="task-name">${t.description ?? t.action ?? t.commands?.[0] ?? t.process_id}${t.filename ? ` (${t.filename})` : ''}</span>
          <${Progress} task=${t} />
          ${t.state !== 'finished' && s.can('rpc/dispatcher', 'kill') && html`<button type="button" class="secondary" onClick=${() => cancel(t.process_id)}>Cancel</button>`}
        </li>`,
      )}
    </ul>
  </section>`;
}

interface Image { name: string; path: string; size: number; modified: string; os?: string | null; cpus?: number; memory_mib?: number; error?: string }

/** `PUT /upload/ova/<file>` with the session's token, reporting how much of the body is sent. */
function putUpload(file: File, onProgress: (percent: number) => void): Promise<{ path?: string; message?: string; ok: boolean }> {
  return new Promise((resolve) => {
    const x = new XMLHttpRequest();
    x.open('PUT', `/upload/ova/${encodeURIComponent(file.name)}`);
    x.setRequestHeader('Authorization', `Bearer ${store.api.token}`);
    x.upload.onprogress = (e) => e.lengthComputable && onProgress((100 * e.loaded) / e.total);
    x.onload = () => {
      let args: { path?: string; message?: string } = {};
      try {
        args = (JSON.parse(x.responseText) as { args: typeof args }).args ?? {};
      } catch {
        args = { message: `HTTP ${x.status}` };
      }
      resolve({ ...args, ok: x.status === 201 });
    };
    x.onerror = () => resolve({ ok: false, message: 'the connection broke off during the upload' });
    x.send(file);
  });
}

/** The OVA/OVF image store: its images, and an upload with a progress bar. */
export function ImageStore() {
  const s = useStore();
  const [images, error, setError, reload] = useListing<Image>('image', 'list', 'images');
  const [sent, setSent] = useState<{ name: string; percent: number; done?: string } | null>(null);
  const [deploying, setDeploying] = useState<string | null>(null);
  const fetchImage = async (url: string, path: string) =>
    (await store.api.call<{ fetch: { queueid: string } }>('sysadm', 'image', { action: 'fetch', url, ...(path ? { path } : {}) })).fetch.queueid;
  const upload = async (e: Event) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const file = (form.elements.namedItem('file') as HTMLInputElement).files?.[0];
    if (!file) return;
    setError('');
    setSent({ name: file.name, percent: 0 });
    const r = await putUpload(file, (percent) => setSent({ name: file.name, percent }));
    setSent({ name: file.name, percent: 100, done: r.ok ? `stored as ${r.path}` : undefined });
    if (!r.ok) setError(`${file.name}: ${r.message ?? 'upload refused'}`);
    form.reset();
    reload();
  };
  return html`<section aria-labelledby="images-title">
    <h1 id="images-title">Images (OVA/OVF)</h1>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${s.can('sysadm/image', 'fetch') && html`<${FetchByUrl} start=${fetchImage} nameLabel="Store as (folder/file.ova)" onDone=${reload} />`}
    ${s.can('sysadm/image', 'upload') &&
    html`<form class="inline" onSubmit=${upload} aria-label="Upload an OVA">
      <label>OVA file <input name="file" type="file" accept=".ova" required /></label>
      <button type="submit">Upload</button>
    </form>`}
    ${sent &&
    html`<div class="fetch" data-upload>
      <span class="progress"><progress max="100" value=${Math.floor(sent.percent)} aria-label=${`Upload of ${sent.name}`}></progress>
      <span>${sent.name}: ${Math.floor(sent.percent)}%${sent.done ? `, ${sent.done}` : ''}</span></span>
    </div>`}
    <div class="scroll"><table>
      <thead><tr><th scope="col">Path</th><th scope="col">Size</th><th scope="col">OS</th><th scope="col">CPUs / memory</th><th scope="col"><span class="sr">Actions</span></th></tr></thead>
      <tbody>
        ${images.map(
          (i) => html`<tr data-image=${i.path}><th scope="row">${i.path}</th><td>${formatBytes(i.size)}</td><td>${i.error ?? i.os ?? '—'}</td>
            <td>${i.cpus ?? '?'} / ${i.memory_mib ?? '?'} MiB</td>
            <td>${s.can('sysadm/image', 'deploy') && !i.error && html`<button type="button" aria-label=${`Deploy ${i.path}`} onClick=${() => setDeploying(i.path)}>Deploy</button>`}</td></tr>`,
        )}
      </tbody>
    </table></div>
    ${images.length === 0 && html`<p class="empty">No images.</p>`}
    ${deploying && html`<${DeployDialog} path=${deploying} onClose=${() => setDeploying(null)} />`}
  </section>`;
}
