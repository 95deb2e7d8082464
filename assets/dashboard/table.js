// The trials table: a column per swept parameter (from the sweep's spec),
// the metrics, the duration and why a trial ended early; sorted by any
// column, filtered by state, by text and by the parallel-coordinates brushes.
import { fmt, trialColor } from './charts.js';
import { $, h } from './dom.js';

export const layers = (l) => (Array.isArray(l) ? (l.length ? l.join('-') : 'none') : l);
export const fixed = (v, digits = 4) => (v === null || v === undefined ? '–' : v.toFixed(digits));
export const NA = 'n/a';

/** The parameters a sweep sweeps: those its spec lets vary, else every one it names. */
export function sweptParams(sweep, trials) {
  const spec = sweep?.spec?.parameters;
  if (spec && typeof spec === 'object') {
    const names = Object.keys(spec);
    const swept = names.filter((k) => !spec[k] || !('value' in spec[k]) || spec[k].when);
    return swept.length ? swept : names;
  }
  const names = new Set(trials.flatMap((t) => Object.keys(t.params || {})));
  return [...names].filter((k) => new Set(trials.map((t) => JSON.stringify(t.params?.[k]))).size > 1);
}

/** The values a spec lists for a parameter, if it lists them. */
export function listed(sweep, name) {
  const values = sweep?.spec?.parameters?.[name]?.values;
  return Array.isArray(values) ? values.map(layers) : null;
}

/** A parameter's value as shown: `n/a` where `when` switched it off. */
export function shown(trial, name) {
  if (!trial.params) return '–';
  const v = trial.params[name];
  if (v === null || v === undefined) return NA;
  if (Array.isArray(v)) return layers(v);
  return typeof v === 'number' ? fmt(v) : String(v);
}

/** Seconds a trial has trained: to its end, or to now while it runs. */
export function duration(t) {
  if (!t.started_at) return null;
  const end = t.finished_at ? Date.parse(t.finished_at) : t.state === 'running' ? Date.now() : null;
  return end === null ? null : Math.max(0, (end - Date.parse(t.started_at)) / 1000);
}

export function seconds(s) {
  if (s === null || s === undefined) return '–';
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${(s / 3600).toFixed(1)} h`;
}

const METRICS = [['epochs_done', 'epochs'], ['val_accuracy', 'val accuracy'], ['val_loss', 'val loss'],
  ['train_loss', 'train loss'], ['duration', 'duration'], ['error', 'ended because']];

/** The columns: [key, title, numeric]. */
export function columns(params) {
  return [['number', '#', true], ['state', 'state', false],
    ...params.map((p) => [`p.${p}`, p.replaceAll('_', ' '), false]),
    ...METRICS.map(([k, title]) => [k, title, k !== 'error'])];
}

/** A trial's value under a column, for sorting. */
function sortValue(t, key) {
  if (key === 'duration') return duration(t);
  if (key.startsWith('p.')) {
    const v = t.params?.[key.slice(2)];
    return Array.isArray(v) ? layers(v) : v;
  }
  return t[key];
}

function compare(key, dir) {
  return (a, b) => {
    const [x, y] = [sortValue(a, key), sortValue(b, key)];
    if (x === y) return a.number - b.number;
    if (x === null || x === undefined) return 1; // missing values last, either way
    if (y === null || y === undefined) return -1;
    return (typeof x === 'number' && typeof y === 'number' ? x - y
      : String(x).localeCompare(String(y), 'en', { numeric: true })) * dir;
  };
}

/** Draws the table of `view` (a SweepView). */
export function renderTable(view) {
  const params = sweptParams(view.sweep, [...view.trials.values()]);
  const cols = columns(params);
  const head = $('#trials thead');
  const signature = cols.map((c) => c[0]).join('|');
  if (head.dataset.columns !== signature) {
    head.dataset.columns = signature;
    head.replaceChildren(h('tr', {}, ...cols.map(([key, title, num]) =>
      h('th', { 'data-key': key, class: num ? 'num' : '', title: `sort by ${title}` }, title))));
  }
  const { key, dir } = view.sort;
  const state = $('#state-filter').value;
  const text = $('#text-filter').value.trim().toLowerCase();
  const best = view.sweep?.best?.trial_id;
  let rows = [...view.trials.values()].sort(compare(key, dir));
  if (state) rows = rows.filter((t) => t.state === state);
  if (view.brushed) rows = rows.filter((t) => view.brushed.has(t.id));
  const built = rows.map((t) => [t, row(view, t, params, t.id === best)])
    .filter(([, tr]) => !text || [...tr.children].some((td) => td.textContent.toLowerCase().includes(text)));
  // Rows are updated in place: a row keeps its element while it is hovered or clicked.
  const body = $('#trials tbody');
  const old = new Map([...body.children].map((tr) => [tr.dataset.trialId, tr]));
  body.replaceChildren(...built.map(([t, fresh]) => {
    const tr = old.get(String(t.id));
    if (!tr) return fresh;
    tr.className = fresh.className;
    tr.dataset.trialNumber = fresh.dataset.trialNumber;
    tr.replaceChildren(...fresh.childNodes);
    return tr;
  }));
  const hidden = view.trials.size - built.length;
  $('#filter-count').textContent = hidden > 0 ? `${built.length} of ${view.trials.size} shown` : '';
  for (const th of head.querySelectorAll('th')) {
    const sorted = th.dataset.key === key;
    th.classList.toggle('sorted', sorted);
    th.setAttribute('aria-sort', sorted ? (dir > 0 ? 'ascending' : 'descending') : 'none');
  }
}

function row(view, t, params, isBest) {
  const progress = view.progress.get(t.id);
  const planned = t.params?.epochs;
  let epochs = h('span', {}, planned ? `${t.epochs_done} / ${planned}` : String(t.epochs_done));
  if (t.state === 'running' && progress) {
    const done = (progress.epoch - 1 + progress.batch / progress.batches) / progress.epochs;
    epochs = h('span', { class: 'progress', title: `epoch ${progress.epoch}, batch ${progress.batch} of ${progress.batches}` },
      epochs, h('span', { class: 'bar' }, h('span', { style: `width:${(100 * done).toFixed(1)}%` })));
  }
  const classes = [`state-${t.state}`, isBest ? 'best' : '', t.id === view.selected ? 'selected' : ''];
  const link = h('a', { href: `#/sweeps/${view.id}/trials/${t.number}`, title: `trial ${t.number} (id ${t.id})` }, `#${t.number}`);
  return h('tr', { 'data-trial-id': t.id, 'data-trial-number': t.number, class: classes.join(' ').trim() },
    h('td', {}, h('span', { class: 'swatch', style: `background:${trialColor(t.number)}` }), link,
      isBest ? h('span', { class: 'star', title: 'best trial' }, ' ★') : null),
    h('td', {}, h('span', { class: `state state-${t.state}`, title: t.error || '' }, t.state)),
    ...params.map((p) => { const v = shown(t, p); return h('td', { class: v === NA ? 'na' : '' }, v); }),
    h('td', { class: 'num' }, epochs),
    h('td', { class: 'num' }, fixed(t.val_accuracy)),
    h('td', { class: 'num' }, fixed(t.val_loss)),
    h('td', { class: 'num' }, fixed(t.train_loss)),
    h('td', { class: 'num' }, seconds(duration(t))),
    h('td', { class: 'reason' }, t.error || ''));
}
