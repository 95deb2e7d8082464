// The parts of a sweep's page around its table and charts: the head and
// summary, the trial the URL names, parameter importance, and the plots
// the server draws (best so far, slice, contour).
import { barChart } from './charts.js';
import { $, api, h } from './dom.js';
import { duration, fixed, seconds, shown, sweptParams } from './table.js';

const STATES = ['queued', 'running', 'completed', 'pruned', 'failed', 'cancelled'];

export function renderHead(view) {
  const s = view.sweep;
  $('#sweep').classList.toggle('missing', !s && view.missing === true);
  $('#sweep-name').textContent = s ? s.name : view.missing ? 'Sweep' : 'loading…';
  $('#sweep-id').textContent = `#${view.id}`;
  $('#sweep-state').textContent = s ? s.state + (s.ended_by && s.ended_by !== s.state ? ` (${s.ended_by})` : '') : '';
  $('#sweep-state').className = `state state-${s?.state || 'none'}`;
  $('#cancel').disabled = !s || s.state !== 'running';
  $('#delete').disabled = !s || s.state === 'running';
  $('#parallel-metric').textContent = s ? s.metric.name : 'metric';
  if (!s) { $('#sweep-meta').textContent = ''; $('#summary').replaceChildren(); return; }
  $('#sweep-meta').replaceChildren([s.dataset, s.method, `${s.metric.goal} ${s.metric.name}`,
    `max ${s.max_trials} trials`, s.max_parallel ? `${s.max_parallel} at a time` : null,
    `created ${s.created_at}`].filter(Boolean).join(' · '),
  s.parent_id ? h('span', {}, ' · forked from ', h('a', { href: `#/sweeps/${s.parent_id}` }, `#${s.parent_id}`)) : '');
  // Counted from the table's rows, which events keep more current than a fetch.
  const t = { ...s.trials };
  if (view.trials.size > 0) {
    for (const k of STATES) t[k] = 0;
    for (const trial of view.trials.values()) t[trial.state] = (t[trial.state] || 0) + 1;
  }
  const chips = STATES.filter((k) => t[k] > 0 || k === 'running' || k === 'completed')
    .map((k) => h('span', { class: `chip state-${k}` }, `${t[k]} ${k}`));
  const best = s.best ? h('span', { class: 'chip best', id: 'best' },
    `★ best: trial #${s.best.number}, ${s.metric.name} ${fixed(s.best.value)}`)
    : h('span', { class: 'chip muted', id: 'best' }, 'no finished trial yet');
  const rungs = (s.rungs || []).map((r) => h('span', { class: 'chip' },
    `rung ${r.epoch}: ${r.promoted}/${r.reached} promoted`));
  $('#summary').replaceChildren(h('span', { class: 'chip' }, `${t.total} trials`), ...chips, best, ...rungs);
}

/** The trial `#/sweeps/S/trials/N` names: its parameters, metrics and epochs. */
export function renderTrial(view) {
  const card = $('#trial-detail');
  const trial = [...view.trials.values()].find((t) => t.number === view.trialNumber);
  card.hidden = view.trialNumber === null;
  if (view.trialNumber === null) return;
  card.dataset.trialNumber = view.trialNumber;
  if (!trial) {
    card.replaceChildren(h('h2', {}, `Trial #${view.trialNumber}`),
      h('p', { class: 'muted' }, view.sweep ? `sweep #${view.id} has no trial ${view.trialNumber}` : 'loading…'));
    return;
  }
  const params = Object.keys(trial.params || {}).sort();
  // The fetched reports and those streamed since, kept together.
  const epochs = [...(view.curves.get(trial.id)?.values() || [])];
  const cell = (v) => h('td', { class: 'num' }, v);
  card.replaceChildren(
    h('h2', {}, `Trial #${trial.number} `, h('span', { class: 'muted' }, `id ${trial.id}`), ' ',
      h('span', { class: `state state-${trial.state}` }, trial.state),
      h('a', { href: `#/sweeps/${view.id}`, class: 'close', title: 'back to the sweep' }, '×')),
    h('p', { class: 'muted' }, [`attempt ${trial.attempt}`, trial.worker ? `worker ${trial.worker}` : null,
      trial.group ? `fused with ${trial.group.size - 1} other trial${trial.group.size === 2 ? '' : 's'} (ids ${
        trial.group.members.filter((m) => m !== trial.id).join(', ')})` : null,
      `trained ${seconds(duration(trial))}`, trial.error ? `ended because: ${trial.error}` : null].filter(Boolean).join(' · ')),
    h('div', { class: 'detail-grid' },
      h('table', { class: 'kv' }, h('tbody', {}, ...params.map((p) =>
        h('tr', {}, h('th', {}, p), h('td', { class: shown(trial, p) === 'n/a' ? 'na' : '' }, shown(trial, p)))))),
      h('table', { class: 'kv epochs' },
        h('thead', {}, h('tr', {}, ...['epoch', 'train loss', 'val loss', 'val accuracy', 'seconds', 'decision']
          .map((x) => h('th', {}, x)))),
        h('tbody', {}, ...epochs.sort((a, b) => a.epoch - b.epoch).map((r) => h('tr', {},
          cell(r.epoch), cell(fixed(r.train_loss)), cell(fixed(r.val_loss)), cell(fixed(r.val_accuracy)),
          cell(fixed(r.seconds, 2)), h('td', {}, [r.decision, r.reason].filter(Boolean).join(': '))))))));
}

/** The importance bar chart: fetched again when more trials have ended. */
export async function renderImportance(view) {
  const ended = (view.sweep?.trials.completed || 0) + (view.sweep?.trials.pruned || 0);
  if (view.importanceFor === ended) return;
  view.importanceFor = ended;
  const svg = $('#importance-chart');
  const pruned = $('#importance-pruned').checked;
  try {
    const answer = await api(`/v1/sweeps/${view.id}/importance?include_pruned=${pruned}`);
    if (view.closed) return;
    $('#importance-method').textContent = answer.method ? `${answer.method}, ${answer.trials_used} trials` : '';
    barChart(svg, { bars: answer.importance.map((b) => ({ label: b.param, value: b.importance })),
      empty: 'not enough trials yet' });
  } catch (e) {
    barChart(svg, { bars: [], empty: `no importance: ${e.message}` });
  }
}

/** The server's plots: best so far over time, a slice, a contour. */
export function renderPlots(view) {
  if (!view.sweep) return;
  const params = sweptParams(view.sweep, [...view.trials.values()]);
  for (const id of ['#slice-param', '#contour-x', '#contour-y']) {
    const select = $(id);
    const names = params.join('|');
    if (select.dataset.names !== names) {
      const keep = select.value;
      select.dataset.names = names;
      select.replaceChildren(...params.map((p) => h('option', { value: p }, p)));
      if (params.includes(keep)) select.value = keep;
      else if (id === '#contour-y' && params.length > 1) select.value = params[1];
    }
  }
  // Redrawn when the sweep's finished trials change, not on every event.
  const version = `${view.sweep.trials.completed}-${view.sweep.trials.pruned}-${view.sweep.state}`;
  const base = `/v1/sweeps/${view.id}/plot.svg?kind=`;
  // Fetched afresh (no cache-busting parameter: unknown ones are refused).
  const show = async (img, src) => {
    const key = `${src}#${version}`;
    if (img.dataset.src === key) return;
    img.dataset.src = key;
    const note = img.nextElementSibling;
    try {
      const response = await fetch(src, { cache: 'no-store' });
      if (!response.ok) throw new Error((await response.json().catch(() => null))?.error?.message || response.status);
      if (img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);
      img.src = URL.createObjectURL(await response.blob());
      img.hidden = false;
      note.textContent = '';
    } catch (e) {
      img.hidden = true;
      note.textContent = `not available: ${e.message}`;
    }
  };
  show($('#best-so-far-img'), `${base}best_so_far`);
  if ($('#slice-param').value) show($('#slice-img'), `${base}slice&param=${encodeURIComponent($('#slice-param').value)}`);
  const [x, y] = [$('#contour-x').value, $('#contour-y').value];
  if (x && y && x !== y) show($('#contour-img'), `${base}contour&x=${encodeURIComponent(x)}&y=${encodeURIComponent(y)}`);
}
