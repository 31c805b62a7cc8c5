import { useEffect, useRef, useState } from 'preact/hooks';
import { CallError } from './api.js';
import { errorText, html } from './html.js';
import { store } from './store.js';

interface Prop { type?: string | string[]; enum?: unknown[]; minimum?: number; maximum?: number; description?: string; maxLength?: number; const?: unknown }

/** Fields with their own widgets below; every other scalar of the schema gets a generated one. */
const CUSTOM = new Set(['action', 'discs', 'media', 'nics', 'displays', 'reimage', 'ips']);
/** Shown at once; the rest of the generated fields wait under "More options". */
const PRIMARY = ['name', 'gid', 'cpus', 'memory_mib', 'type', 'description'];
const LABELS: Record<string, string> = { name: 'Name', gid: 'Group', cpus: 'CPUs', memory_mib: 'Memory (MiB)', type: 'Firmware', description: 'Description', hardware_profile: 'Hardware profile', cmdline: 'Kernel command line', power_on: 'Start once built', cdrom_url: 'CD from URL' };
const DEFAULTS: Record<string, string> = { cpus: '1', memory_mib: '512' };

const label = (k: string) => LABELS[k] ?? k.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());

/** Where a server detail points: `/name`, `/discs/0/size_mib` → the field it belongs to. */
function fieldOf(path = ''): string {
  return path.replace(/^\/args/, '').split('/')[1] ?? '';
}

function choices(key: string): string[] | null {
  const d = store.definitions as { types?: string[]; hardware_profiles?: { name?: string; id?: string }[] };
  if (key === 'gid') return store.groups.map((g) => g.gid);
  if (key === 'type') return d.types ?? null;
  if (key === 'hardware_profile') return ['', ...(d.hardware_profiles ?? []).map((p) => String(p.name ?? p.id ?? p))];
  return null;
}

function Field({ name, prop, error }: { name: string; prop: Prop; error?: string }) {
  const id = `f-${name}`;
  const err = error ? html`<span class="field-error" id=${`${id}-err`} role="alert">${error}</span>` : null;
  const described = [prop.description ? `${id}-help` : '', error ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
  const help = prop.description ? html`<small id=${`${id}-help`}>${prop.description}</small>` : null;
  const type = Array.isArray(prop.type) ? prop.type[0] : prop.type;
  if (type === 'boolean')
    return html`<div class="field check"><label><input type="checkbox" id=${id} name=${name} aria-describedby=${described} /> ${label(name)}</label>${help}${err}</div>`;
  const options = choices(name) ?? (prop.enum as string[] | undefined);
  const control = options
    ? html`<select id=${id} name=${name} aria-invalid=${error ? 'true' : undefined} aria-describedby=${described}>${options.map((o) => html`<option value=${o}>${o || '—'}</option>`)}</select>`
    : html`<input id=${id} name=${name} type=${type === 'integer' ? 'number' : 'text'} min=${prop.minimum} max=${prop.maximum} defaultValue=${DEFAULTS[name] ?? ''}
        aria-invalid=${error ? 'true' : undefined} aria-describedby=${described} />`;
  return html`<div class="field"><label for=${id}>${label(name)}</label>${control}${help}${err}</div>`;
}

/** The form's values as `sysadm/vm create` args, typed as the schema says; empty fields left out. */
function collect(form: HTMLFormElement, props: Record<string, Prop>): Record<string, unknown> {
  const data = new FormData(form);
  const args: Record<string, unknown> = { action: 'create' };
  for (const [k, p] of Object.entries(props)) {
    if (CUSTOM.has(k)) continue;
    const type = Array.isArray(p.type) ? p.type[0] : p.type;
    if (type === 'boolean') {
      if (data.get(k) === 'on') args[k] = true;
      continue;
    }
    const v = String(data.get(k) ?? '').trim();
    if (v === '') continue;
    args[k] = type === 'integer' && /^-?\d+$/.test(v) ? Number(v) : v;
  }
  const size = String(data.get('disc_size') ?? '').trim();
  if (size) args.discs = [{ label: 'disk0', size_mib: /^\d+$/.test(size) ? Number(size) : size }];
  const iso = String(data.get('iso') ?? '');
  if (iso) args.media = [{ mid: iso, mode: String(data.get('media_mode') ?? 'cdrom') }];
  const nic = String(data.get('nic') ?? '');
  if (nic) args.nics = [{ type: nic }];
  if (data.get('display') === 'on') args.displays = [{ width: 1024, height: 768 }];
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
  const dialog = useRef<HTMLDialogElement>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  const [isos, setIsos] = useState<string[]>([]);
  const [dists, setDists] = useState<string[]>([]);
  const props = ((store.schemas['sysadm/vm']?.create?.args as { properties?: Record<string, Prop> })?.properties ?? {}) as Record<string, Prop>;
  const d = store.definitions as { media_modes?: string[]; nic_types?: string[] };
  useEffect(() => {
    dialog.current?.showModal();
    if (props.media && store.can('sysadm/iohyve', 'listisos'))
      store.api.call<{ isos: { name: string }[] }>('sysadm', 'iohyve', { action: 'listisos' }).then((r) => setIsos(r.isos.map((i) => i.name)), () => {});
    if (props.reimage && store.can('sysadm/dist', 'list'))
      store.api.call<{ distributions: { name: string }[] }>('sysadm', 'dist', { action: 'list' }).then((r) => setDists(r.distributions.map((x) => x.name)), () => {});
  }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErrors({});
    setMessage('');
    try {
      await store.api.call('sysadm', 'vm', collect(e.target as HTMLFormElement, props));
      onClose();
    } catch (err) {
      const byField: Record<string, string> = {};
      if (err instanceof CallError) {
        for (const det of err.details ?? []) {
          const f = fieldOf(det.path);
          const key = f === 'discs' ? 'disc_size' : f === 'media' ? 'iso' : f === 'nics' ? 'nic' : f === 'reimage' ? 'distribution' : f;
          byField[key] = [byField[key], `${det.path?.replace(/^\/args/, '')} ${det.message}`].filter(Boolean).join('; ');
        }
        if (err.reason === 'name_taken') byField.name = err.message;
      }
      setErrors(byField);
      setMessage(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const generated = Object.keys(props).filter((k) => !CUSTOM.has(k) && props[k].const === undefined);
  const primary = PRIMARY.filter((k) => generated.includes(k));
  const more = generated.filter((k) => !PRIMARY.includes(k));
  const err = (k: string) => (errors[k] ? html`<span class="field-error" role="alert">${errors[k]}</span>` : null);
  return html`<dialog ref=${dialog} aria-labelledby="create-title" onClose=${onClose} onCancel=${onClose}>
    <form onSubmit=${submit} noValidate>
      <h2 id="create-title">Create a virtual machine</h2>
      ${message && html`<p class="error" role="alert" data-form-error>${message}</p>`}
      <div class="grid">
        ${primary.map((k) => html`<${Field} name=${k} prop=${props[k]} error=${errors[k]} />`)}
        ${props.discs && html`<div class="field"><label for="f-disc">Disc size (MiB)</label><input id="f-disc" name="disc_size" type="number" min="1" defaultValue="1024" />${err('disc_size')}</div>`}
        ${props.media &&
        html`<div class="field"><label for="f-iso">Install medium</label>
          <select id="f-iso" name="iso"><option value="">None</option>${isos.map((i) => html`<option value=${i}>${i}</option>`)}</select>
          <input type="hidden" name="media_mode" value=${d.media_modes?.[0] ?? 'cdrom'} />${err('iso')}</div>`}
        ${props.nics &&
        html`<div class="field"><label for="f-nic">Network</label>
          <select id="f-nic" name="nic"><option value="">None</option>${(d.nic_types ?? []).map((t) => html`<option value=${t}>${t}</option>`)}</select>${err('nic')}</div>`}
        ${props.displays && html`<div class="field check"><label><input type="checkbox" name="display" /> Graphical display (VNC)</label></div>`}
      </div>
      ${props.reimage &&
      dists.length > 0 &&
      html`<fieldset><legend>Install a distribution</legend>
        <div class="field"><label for="f-dist">Distribution</label>
          <select id="f-dist" name="distribution"><option value="">None (empty disc)</option>${dists.map((x) => html`<option value=${x}>${x}</option>`)}</select>${err('distribution')}</div>
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
  </dialog>`;
}
