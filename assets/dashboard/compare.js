// Two or more sweeps side by side (`#/compare/1,2`): the best value so far
// over wall-clock time (from their trials' finished_at and metric), their
// best configurations, and the metric's curve per epoch of their best trials.
import { fmt, lineChart, trialColor } from './charts.js';
import { $, api, h } from './dom.js';
import { NA, layers } from './table.js';

async function allTrials(id) {
  const trials = [];
  let after = -1;
  while (after !== null && after !== undefined) {
    const page = await api(`/v1/sweeps/${id}/trials?limit=1000&after=${after}`);
    trials.push(...page.trials);
    after = page.next;
  }
  return trials;
}

/** [minutes since the sweep was created, best so far] at each finished trial that improved it. */
export function bestSoFar(sweep, trials) {
  const { name, goal } = sweep.metric;
  const better = goal === 'minimize' ? (a, b) => a < b : (a, b) => a > b;
  const start = Date.parse(sweep.created_at);
  const scored = trials.filter((t) => ['completed', 'pruned'].includes(t.state) && t.finished_at && Number.isFinite(t[name]))
    .sort((a, b) => Date.parse(a.finished_at) - Date.parse(b.finished_at));
  // A step at each improvement, held to the last finished trial.
  const points = [];
  let best = null;
  const at = (t) => (Date.parse(t.finished_at) - start) / 60000;
  for (const t of scored) {
    if (best === null || better(t[name], best)) {
      if (best !== null) points.push([at(t), best]);
      best = t[name];
      points.push([at(t), best]);
    }
  }
  if (scored.length && points.length && points[points.length - 1][0] < at(scored[scored.length - 1])) {
    points.push([at(scored[scored.length - 1]), best]);
  }
  return points;
}

export class CompareView {
  constructor(ids) {
    this.ids = ids;
    this.closed = false;
    this.load();
  }

  close() { this.closed = true; }

  async load() {
    $('#compare-title').textContent = `Compare sweeps ${this.ids.map((i) => `#${i}`).join(', ')}`;
    $('#compare-error').hidden = true;
    try {
      const sweeps = await Promise.all(this.ids.map(async (id) => {
        const [sweep, trials] = await Promise.all([api(`/v1/sweeps/${id}`), allTrials(id)]);
        const best = sweep.best ? await api(`/v1/trials/${sweep.best.trial_id}`) : null;
        return { sweep, trials, best };
      }));
      if (!this.closed) this.render(sweeps);
    } catch (e) {
      $('#compare-error').hidden = false;
      $('#compare-error').textContent = e.message;
    }
  }

  render(sweeps) {
    const color = (i) => trialColor(i);
    const label = (s) => `#${s.sweep.id} ${s.sweep.name}`;
    const metrics = [...new Set(sweeps.map((s) => s.sweep.metric.name))];
    const metric = metrics.join(' / ');
    lineChart($('#compare-best'), {
      series: sweeps.map((s, i) => ({ label: label(s), color: color(i), cls: '', points: bestSoFar(s.sweep, s.trials) })),
      xLabel: 'minutes since the sweep was created', yLabel: `best ${metric} so far`, empty: 'no finished trial yet', note: 'a step where a finished trial improved on the best',
    });
    lineChart($('#compare-curves'), {
      series: sweeps.map((s, i) => ({ label: `${label(s)}, best trial #${s.best?.number ?? '–'}`, short: label(s), color: color(i), cls: '',
        points: (s.best?.epochs || []).map((r) => [r.epoch, r[s.sweep.metric.name] ?? r.val_accuracy]) })),
      xLabel: 'epoch', yLabel: metric, integerX: true, empty: 'no best trial yet', note: 'each sweep\'s best trial, per epoch',
    });
    const params = [...new Set(sweeps.flatMap((s) => Object.keys(s.best?.params || {})))].sort();
    const value = (s, p) => {
      if (!s.best?.params) return '–';
      const v = s.best.params[p];
      return v === null || v === undefined ? NA : Array.isArray(v) ? layers(v) : typeof v === 'number' ? fmt(v) : String(v);
    };
    const head = h('tr', {}, h('th', {}, ''), ...sweeps.map((s, i) => h('th', {},
      h('span', { class: 'swatch', style: `background:${color(i)}` }), h('a', { href: `#/sweeps/${s.sweep.id}` }, label(s)))));
    const rows = [
      h('tr', {}, h('th', {}, 'method'), ...sweeps.map((s) => h('td', {}, s.sweep.method))),
      h('tr', {}, h('th', {}, 'trials'), ...sweeps.map((s) => h('td', {}, `${s.trials.length} (${s.sweep.state})`))),
      h('tr', {}, h('th', {}, 'best trial'), ...sweeps.map((s) => h('td', {}, s.best
        ? h('a', { href: `#/sweeps/${s.sweep.id}/trials/${s.best.number}` }, `#${s.best.number}`) : '–'))),
      h('tr', { class: 'metric' }, h('th', {}, metric), ...sweeps.map((s) => h('td', {},
        s.sweep.best ? s.sweep.best.value.toFixed(4) : '–'))),
      ...params.map((p) => h('tr', {}, h('th', {}, p), ...sweeps.map((s) => h('td', { class: value(s, p) === NA ? 'na' : '' }, value(s, p))))),
    ];
    $('#compare-table').replaceChildren(h('thead', {}, head), h('tbody', {}, ...rows));
  }
}
