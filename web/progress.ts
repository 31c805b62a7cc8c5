import { html } from './html.js';
import { useStore, type Task } from './store.js';

export function Progress({ task }: { task: Task }) {
  const pct = task.state === 'finished' && task.result === 'success' ? 100 : Math.floor(task.progress?.percent ?? 0);
  const label = `${task.filename ?? task.process_id}: ${task.state === 'finished' ? task.result : `${pct}%`}`;
  return html`<span class="progress">
    <progress max="100" value=${task.progress?.percent === null && task.state !== 'finished' ? undefined : pct} aria-label=${label} data-task=${task.process_id}></progress>
    <span>${task.state === 'finished' ? `${task.result}${task.error ? `: ${task.error}` : ''}` : `${pct}%`}</span>
  </span>`;
}

/** A queued task's progress, live from `dispatcher` events, by its id (`Queued…` until the first). */
export function TaskProgress({ id }: { id: string }) {
  const t = useStore().tasks.get(id);
  return html`<div class="fetch" data-task-progress=${id}>${t ? html`<${Progress} task=${t} />` : 'Queued…'}</div>`;
}
