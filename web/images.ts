import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { errorText, html } from './html.js';
import { Field, FieldError, Modal, argsOf, generated, scalars, useSubmit } from './form.js';
import { TaskProgress } from './progress.js';
import { store, useStore } from './store.js';

interface Queued { queueid: string; text: string }

/**
 * A dialog whose form queues a task (deploy, export): the server's details under the fields
 * until it is queued, then the task's progress, live; `done` says what to do once it succeeded.
 */
function TaskDialog({ title, verb, id, start, fields, done, onClose }: {
  title: string; verb: string; id: string; start: (data: FormData) => Promise<Queued>; fields: (errors: Record<string, string>) => ComponentChildren;
  done?: ComponentChildren; onClose: () => void;
}) {
  const s = useStore();
  const [queued, setQueued] = useState<Queued | null>(null);
  const { errors, message, busy, submit } = useSubmit(async (form) => setQueued(await start(new FormData(form))));
  const task = queued && s.tasks.get(queued.queueid);
  return html`<${Modal} title=${title} id=${id} onClose=${onClose}>
    ${queued
      ? html`<p role="status">${queued.text}</p>
          <${TaskProgress} id=${queued.queueid} />
          ${task?.state === 'finished' && task.result === 'success' && done}
          <div class="buttons"><button type="button" onClick=${onClose}>Close</button></div>`
      : html`<form onSubmit=${submit} noValidate>
          ${message && html`<p class="error" role="alert" data-form-error>${message}</p>`}
          ${fields(errors)}
          <div class="buttons">
            <button type="button" class="secondary" onClick=${onClose}>Cancel</button>
            <button type="submit" disabled=${busy}>${verb}</button>
          </div>
        </form>`}
  <//>`;
}

interface DeploymentOption { id: string; label: string; description: string; default: boolean }
interface ImageInfo { descriptor: { deployment_options: DeploymentOption[]; configuration: string | null; systems: { name: string; cpus: number; memory_mib: number; discs: unknown[] }[] } }

/** Deploy fields shown at once; the rest of `sysadm/image deploy`'s scalars wait under "More options". */
const DEPLOY_PRIMARY = ['name', 'gid', 'count', 'power_on'];

/**
 * Deploys an image: name, group, count, the deployment option (as `sysadm/image info` lists the
 * descriptor's, with the hardware each one means), start once built; then the task's progress.
 */
export function DeployDialog({ path, onClose }: { path: string; onClose: () => void }) {
  const props = argsOf('sysadm/image', 'deploy');
  const [options, setOptions] = useState<DeploymentOption[]>([]);
  const [configuration, setConfiguration] = useState<string | null>(null);
  const [hardware, setHardware] = useState('');
  useEffect(() => {
    store.api.call<ImageInfo>('sysadm', 'image', { action: 'info', path, ...(configuration ? { configuration } : {}) }).then(
      (r) => {
        setOptions(r.descriptor.deployment_options);
        if (configuration === null) setConfiguration(r.descriptor.configuration);
        setHardware(r.descriptor.systems.map((x) => `${x.name}: ${x.cpus} CPU, ${x.memory_mib} MiB, ${x.discs.length} disc(s)`).join('; '));
      },
      (e) => setHardware(`cannot read the image: ${errorText(e)}`),
    );
  }, [path, configuration]);
  const fields = generated(props, new Set(['path', 'configuration']));
  const more = fields.filter((k) => !DEPLOY_PRIMARY.includes(k));
  const start = async (data: FormData): Promise<Queued> => {
    const args = { action: 'deploy', path, ...scalars(data, props, fields), ...(configuration ? { configuration } : {}) };
    const r = await store.api.call<{ deploy: { queueid: string; names: string[] } }>('sysadm', 'image', args);
    return { queueid: r.deploy.queueid, text: `Deploying ${path} as ${r.deploy.names.join(', ')}.` };
  };
  return html`<${TaskDialog} title="Deploy an image" verb="Deploy" id="deploy-title" start=${start} onClose=${onClose}
    done=${html`<p><a href="#/vms" onClick=${onClose}>See the new VMs</a></p>`}
    fields=${(errors: Record<string, string>) => html`<p>${path}</p>
      <div class="grid">
        ${DEPLOY_PRIMARY.filter((k) => props[k]).map((k) => html`<${Field} name=${k} prop=${props[k]} error=${errors[k]} value=${k === 'count' ? '1' : undefined} />`)}
        ${options.length > 0 &&
        html`<div class="field"><label for="f-configuration">Configuration</label>
          <select id="f-configuration" name="configuration" onChange=${(e: Event) => setConfiguration((e.target as HTMLSelectElement).value)}>
            ${options.map((o) => html`<option value=${o.id} selected=${o.id === configuration}>${o.label}${o.description ? ` — ${o.description}` : ''}</option>`)}
          </select>
          <${FieldError} id="f-configuration-err" text=${errors.configuration} /></div>`}
      </div>
      <p class="hint" data-hardware>${hardware}</p>
      ${more.length > 0 &&
      html`<details open=${more.some((k) => errors[k])}><summary>More options</summary>
        <div class="grid">${more.map((k) => html`<${Field} name=${k} prop=${props[k]} error=${errors[k]} />`)}</div></details>`}`} />`;
}

/** Whether the user may export: the action needs vm.view to be listed, and image.manage to succeed. */
export function canExport(): boolean {
  return store.can('sysadm/image', 'export') && store.can('sysadm/image', 'upload');
}

/** Exports a stopped VM into the image store (OVA or an OVF folder), with the task's progress. */
export function ExportDialog({ vm, onClose }: { vm: { vmid: string; name: string }; onClose: () => void }) {
  const props = argsOf('sysadm/image', 'export');
  const fields = generated(props, new Set(['vmid']));
  const start = async (data: FormData): Promise<Queued> => {
    const r = await store.api.call<{ export: { queueid: string; path: string } }>('sysadm', 'image', { action: 'export', vmid: vm.vmid, ...scalars(data, props, fields) });
    return { queueid: r.export.queueid, text: `Exporting ${vm.name} to ${r.export.path}.` };
  };
  return html`<${TaskDialog} title=${`Export ${vm.name}`} verb="Export" id="export-title" start=${start} onClose=${onClose}
    done=${html`<p><a href="#/images" onClick=${onClose}>See it in Images</a></p>`}
    fields=${(errors: Record<string, string>) => html`<div class="grid">
      ${fields.map((k) => html`<${Field} name=${k} prop=${props[k]} error=${errors[k]} value=${k === 'name' ? vm.name : k === 'format' ? 'ova' : undefined} />`)}
    </div>`} />`;
}
