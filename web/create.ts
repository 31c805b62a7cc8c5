import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { Field, FieldError, Modal, argsOf, generated, scalars, useSubmit, type Prop } from './form.js';
import { store } from './store.js';

/** Fields with their own widgets below; every other scalar of the schema gets a generated one. */
const CUSTOM = new Set(['discs', 'media', 'nics', 'displays', 'reimage', 'ips']);
/** Shown at once; the rest of the generated fields wait under "More options". */
const PRIMARY = ['name', 'gid', 'cpus', 'memory_mib', 'type', 'description'];
const DEFAULTS: Record<string, string> = { cpus: '1', memory_mib: '512' };
/** Display sizes offered; the schema takes any width and height in its bounds. */
const RESOLUTIONS = ['1024x768', '1280x800', '1920x1080'];

interface Definitions { media_modes?: string[]; nic_types?: string[]; storage_grades?: { name: string }[] }

/**
 * A list of rows the user adds to and removes from (discs, media, NICs). Each row keeps a key of
 * its own, so a removed row takes its inputs with it; the rows' order is the array sent.
 */
function useRows(initial: number): [number[], () => void, (k: number) => void] {
  const [rows, setRows] = useState(() => Array.from({ length: initial }, (_, i) => i));
  const [next, setNext] = useState(initial);
  const add = () => {
    setRows((r) => [...r, next]);
    setNext(next + 1);
  };
  return [rows, add, (k) => setRows((r) => r.filter((x) => x !== k))];
}

/** One fieldset of rows: a legend, the rows each with its errors and a remove button, and an add button under `max`. */
function Rows({ title, what, rows, max, add, remove, errors, field, render }: {
  title: string; what: string; rows: number[]; max?: number; add: () => void; remove: (k: number) => void;
  errors: Record<string, string>; field: string; render: (k: number, n: number) => unknown;
}) {
  return html`<fieldset data-rows=${field}>
    <legend>${title}</legend>
    <${FieldError} id=${`${field}-err`} text=${errors[field]} />
    ${rows.map(
      (k, i) => html`<div class="row" key=${k} data-row=${`${field}/${i}`}>
        ${render(k, i + 1)}
        <button type="button" class="secondary" aria-label=${`Remove ${what} ${i + 1}`} onClick=${() => remove(k)}>Remove</button>
        <${FieldError} id=${`${field}-${i}-err`} text=${errors[`${field}/${i}`]} />
      </div>`,
    )}
    ${rows.length < (max ?? Infinity) && html`<button type="button" class="secondary" onClick=${add}>Add ${what}</button>`}
  </fieldset>`;
}

const integer = (v: FormDataEntryValue | null) => {
  const s = String(v ?? '').trim();
  return /^\d+$/.test(s) ? Number(s) : s;
};

/** The form's values as `sysadm/vm create` args: the generated fields, then each row in order. */
function collect(form: HTMLFormElement, props: Record<string, Prop>, rows: { discs: number[]; media: number[]; nics: number[] }): Record<string, unknown> {
  const data = new FormData(form);
  const args: Record<string, unknown> = { action: 'create', ...scalars(data, props, generated(props, CUSTOM)) };
  if (props.discs) {
    args.discs = rows.discs.map((k) => {
      const grade = String(data.get(`disc-${k}-grade`) ?? '');
      return { label: String(data.get(`disc-${k}-label`) ?? '').trim(), size_mib: integer(data.get(`disc-${k}-size`)), ...(grade ? { storage_grade: grade } : {}) };
    });
  }
  if (props.media) args.media = rows.media.map((k) => ({ mid: String(data.get(`medium-${k}-iso`) ?? ''), mode: String(data.get(`medium-${k}-mode`) ?? '') }));
  if (props.nics) {
    args.nics = rows.nics.map((k) => {
      const host = String(data.get(`nic-${k}-host`) ?? '').trim();
      return { type: String(data.get(`nic-${k}-type`) ?? ''), ...(host ? { host } : {}) };
    });
  }
  for (const k of ['discs', 'media', 'nics']) if (Array.isArray(args[k]) && (args[k] as unknown[]).length === 0) delete args[k];
  const display = String(data.get('display') ?? '');
  if (display) {
    const [width, height] = display.split('x').map(Number);
    args.displays = [{ width, height }];
  }
  const dist = String(data.get('distribution') ?? '');
  if (dist) {
    const reimage: Record<string, string> = { distribution: dist };
    for (const k of ['root_password', 'ssh_public_key']) if (data.get(k)) reimage[k] = String(data.get(k));
    args.reimage = reimage;
  }
  return args;
}

/** The create dialog, built from `rpc/schema`'s schema of `sysadm/vm create`; the server validates. */
export function CreateDialog({ onClose }: { onClose: () => void }) {
  const [isos, setIsos] = useState<string[]>([]);
  const [dists, setDists] = useState<string[]>([]);
  const [bridges, setBridges] = useState<string[]>([]);
  const [discs, addDisc, removeDisc] = useRows(1);
  const [media, addMedium, removeMedium] = useRows(0);
  const [nics, addNic, removeNic] = useRows(0);
  const props = argsOf('sysadm/vm', 'create');
  const d = store.definitions as Definitions;
  const itemMax = (k: string) => props[k]?.maxItems;
  useEffect(() => {
    if (props.media && store.can('sysadm/iohyve', 'listisos'))
      store.api.call<{ isos: { name: string }[] }>('sysadm', 'iohyve', { action: 'listisos' }).then((r) => setIsos(r.isos.map((i) => i.name)), () => {});
    if (props.reimage && store.can('sysadm/dist', 'list'))
      store.api.call<{ distributions: { name: string }[] }>('sysadm', 'dist', { action: 'list' }).then((r) => setDists(r.distributions.map((x) => x.name)), () => {});
    if (props.nics && d.nic_types?.includes('BRIDGE') && store.can('sysadm/nic', 'list'))
      store.api.call<{ host_nics: { nicid: string }[] }>('sysadm', 'nic', { action: 'list' }).then((r) => setBridges(r.host_nics.map((n) => n.nicid)), () => {});
  }, []);
  const { errors, message, busy, submit } = useSubmit(async (form) => {
    await store.api.call('sysadm', 'vm', collect(form, props, { discs, media, nics }));
    onClose();
  });
  const fields = generated(props, CUSTOM);
  const primary = PRIMARY.filter((k) => fields.includes(k));
  const more = fields.filter((k) => !PRIMARY.includes(k));
  const grades = d.storage_grades?.map((g) => g.name) ?? [];
  const select = (name: string, text: string, options: string[], none?: string) =>
    html`<label>${text} <select name=${name}>${none !== undefined && html`<option value="">${none}</option>`}${options.map((o) => html`<option value=${o}>${o}</option>`)}</select></label>`;
  return html`<${Modal} title="Create a virtual machine" id="create-title" onClose=${onClose}>
    <form onSubmit=${submit} noValidate>
      ${message && html`<p class="error" role="alert" data-form-error>${message}</p>`}
      <div class="grid">
        ${primary.map((k) => html`<${Field} name=${k} prop=${props[k]} error=${errors[k]} value=${DEFAULTS[k]} />`)}
        ${props.displays &&
        html`<div class="field"><label for="f-display">Graphical display (VNC)</label>
          <select id="f-display" name="display"><option value="">None</option>${RESOLUTIONS.map((r) => html`<option value=${r}>${r.replace('x', ' × ')}</option>`)}</select>
          <${FieldError} id="displays-err" text=${errors.displays ?? errors['displays/0']} /></div>`}
      </div>
      ${props.discs &&
      html`<${Rows} title="Discs" what="disc" field="discs" rows=${discs} max=${itemMax('discs')} add=${addDisc} remove=${removeDisc} errors=${errors}
        render=${(k: number, n: number) => html`<label>Disc ${n} label <input name=${`disc-${k}-label`} defaultValue=${`disk${n - 1}`} /></label>
          <label>Disc ${n} size (MiB) <input name=${`disc-${k}-size`} type="number" min="1" defaultValue="1024" /></label>
          ${grades.length > 1 && select(`disc-${k}-grade`, `Disc ${n} storage grade`, grades)}`} />`}
      ${props.media &&
      html`<${Rows} title="Install media" what="medium" field="media" rows=${media} max=${itemMax('media')} add=${addMedium} remove=${removeMedium} errors=${errors}
        render=${(k: number, n: number) => html`${select(`medium-${k}-iso`, `Medium ${n} ISO`, isos)}${select(`medium-${k}-mode`, `Medium ${n} mode`, d.media_modes ?? [])}`} />`}
      ${props.nics &&
      html`<${Rows} title="Network" what="NIC" field="nics" rows=${nics} max=${itemMax('nics')} add=${addNic} remove=${removeNic} errors=${errors}
        render=${(k: number, n: number) => html`${select(`nic-${k}-type`, `NIC ${n} type`, d.nic_types ?? [])}
          ${bridges.length > 0 && select(`nic-${k}-host`, `NIC ${n} host interface (bridges)`, bridges, '—')}`} />`}
      ${props.reimage &&
      dists.length > 0 &&
      html`<fieldset><legend>Install a distribution</legend>
        <div class="field"><label for="f-dist">Distribution</label>
          <select id="f-dist" name="distribution"><option value="">None (empty disc)</option>${dists.map((x) => html`<option value=${x}>${x}</option>`)}</select>
          <${FieldError} id="f-dist-err" text=${errors.reimage} /></div>
        <div class="field"><label for="f-pw">Root password</label><input id="f-pw" name="root_password" type="password" autocomplete="new-password" /></div>
        <div class="field"><label for="f-key">SSH public key</label><textarea id="f-key" name="ssh_public_key" rows="2"></textarea></div>
      </fieldset>`}
      ${more.length > 0 &&
      html`<details open=${more.some((k) => errors[k])}><summary>More options</summary><div class="grid">${more.map((k) => html`<${Field} name=${k} prop=${props[k]} error=${errors[k]} />`)}</div></details>`}
      <div class="buttons">
        <button type="button" class="secondary" onClick=${onClose}>Cancel</button>
        <button type="submit" disabled=${busy}>Create</button>
      </div>
    </form>
  <//>`;
}
