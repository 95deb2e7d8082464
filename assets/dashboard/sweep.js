// One sweep watched live. Its state is fetched once, then kept current by
// its event stream (a tail of the events table, replayed from the start),
// with a re-fetch of the sweep and its trials after state changes.
import { fmt, lineChart, parallelChart, trialColor } from './charts.js';
import { $, api, h } from './dom.js';

const KINDS = ['sweep_created', 'trial_queued', 'trial_sampled', 'trial_started', 'trial_progress',
  'epoch_report', 'trial_pruned', 'trial_completed', 'trial_failed', 'trial_cancelled',
  'trial_requeued', 'best_changed', 'sweep_completed', 'sweep_cancelled'];
// Events after which the sweep and its trials are fetched again.
const REFETCH = new Set(['sweep_created', 'trial_queued', 'trial_sampled', 'trial_completed',
  'trial_failed', 'trial_cancelled', 'trial_requeued', 'trial_pruned', 'best_changed',
  'sweep_completed', 'sweep_cancelled']);
const ENDED_STATE = { trial_pruned: 'pruned', trial_completed: 'completed', trial_failed: 'failed',
  trial_cancelled: 'cancelled', trial_requeued: 'queued' };
const PARAMS = ['learning_rate', 'batch_size', 'hidden_layers', 'optimizer', 'dropout',
  'weight_decay', 'momentum', 'activation', 'epochs'];

const mapFor = (maps, key) => maps.get(key) || maps.set(key, new Map()).get(key);
const layers = (l) => (Array.isArray(l) ? (l.length ? l.join('-') : 'none') : l);
const fixed = (v, digits = 4) => (v === null || v === undefined ? '–' : v.toFixed(digits));

/** One sweep on the page, until `close()`. `onEnd` runs when the sweep ends. */
export class SweepView {
  constructor(id, onEnd) {
    this.id = id;
    this.onEnd = onEnd;
    this.sweep = null;
    this.trials = new Map(); // trial id -> trial as GET /v1/sweeps/ID/trials has it
    this.curves = new Map(); // trial id -> epoch -> epoch report
    this.losses = new Map(); // trial id -> step -> training loss
    this.progress = new Map(); // trial id -> latest trial_progress data
    this.selected = null;
    this.chosen = false; // the user picked the selected trial
    this.sort = { key: 'number', dir: 1 };
    this.closed = false;
    this.timers = {};
    this.start();
  }

  async start() {
    this.render();
    if (await this.refresh()) this.listen();
  }

  close() {
    this.closed = true;
    this.source?.close();
    Object.values(this.timers).forEach(clearTimeout);
  }

  /** Every trial of the sweep, following /trials page by page. */
  async allTrials() {
    const trials = [];
    let after = -1;
    while (after !== null && after !== undefined) {
      const page = await api(`/v1/sweeps/${this.id}/trials?limit=1000&after=${after}`);
      trials.push(...page.trials);
      after = page.next;
    }
    return trials;
  }

  /** Fetches the sweep and its trials; false when the sweep cannot be read. */
  async refresh() {
    try {
      const [sweep, trials] = await Promise.all([api(`/v1/sweeps/${this.id}`), this.allTrials()]);
      if (this.closed) return false;
      this.sweep = sweep;
      this.trials = new Map(trials.map((t) => [t.id, t]));
      this.showError(null);
    } catch (e) {
      this.showError(e.message);
      this.missing = this.sweep === null;
      this.render();
      return false;
    }
    this.autoSelect();
    this.render();
    return true;
  }

  listen() {
    const source = new EventSource(`/v1/sweeps/${this.id}/events`);
    this.source = source;
    source.onopen = () => this.showLive('live');
    source.onerror = () => {
      // The server ends the stream when the sweep ends; otherwise the
      // browser reconnects with Last-Event-ID and misses nothing.
      if (this.sweep && this.sweep.state !== 'running') {
        source.close();
        this.showLive('ended');
        this.refresh();
        this.onEnd();
      } else if (source.readyState === EventSource.CLOSED) {
        // Refused, not dropped (e.g. 401): a fetch says why, and signs in again.
        this.showLive('offline');
        this.refresh();
      } else {
        this.showLive('reconnecting');
      }
    };
    for (const kind of KINDS) {
      source.addEventListener(kind, (message) => this.apply(kind, JSON.parse(message.data)));
    }
  }

  /** Applies one event of the stream. */
  apply(kind, event) {
    const d = event.data || {};
    const id = event.trial_id;
    if (kind === 'trial_started') {
      // A new attempt trains from scratch: the reports of the last one are gone.
      [this.curves, this.losses, this.progress].forEach((m) => m.delete(id));
      this.patch(id, { state: 'running', attempt: d.attempt, worker: d.worker, epochs_done: 0,
        train_loss: null, val_loss: null, val_accuracy: null });
    } else if (kind === 'trial_progress') {
      this.progress.set(id, d);
      mapFor(this.losses, id).set(d.step, d.loss);
    } else if (kind === 'epoch_report') {
      const r = d.report;
      mapFor(this.curves, id).set(r.epoch, r);
      this.patch(id, { epochs_done: r.epoch, train_loss: r.train_loss, val_loss: r.val_loss,
        val_accuracy: r.val_accuracy });
    } else if (kind in ENDED_STATE) {
      this.patch(id, { state: ENDED_STATE[kind], error: d.error ?? d.reason ?? null });
    } else if (kind === 'best_changed' && this.sweep) {
      this.sweep.best = { trial_id: d.trial_id, number: d.number, value: d.value };
    } else if ((kind === 'sweep_completed' || kind === 'sweep_cancelled') && this.sweep) {
      this.sweep.state = kind === 'sweep_completed' ? 'completed' : 'cancelled';
      this.sweep.ended_by = d.ended_by ?? this.sweep.ended_by;
    }
    if (REFETCH.has(kind)) this.later('refresh', 700, () => this.refresh());
    this.later('render', 150, () => this.render());
  }

  patch(id, fields) {
    const trial = this.trials.get(id);
    if (trial) Object.assign(trial, fields);
    else this.later('refresh', 700, () => this.refresh());
  }

  /** Runs `fn` once after `ms`, however often it is asked for meanwhile. */
  later(name, ms, fn) {
    if (this.closed || this.timers[name]) return;
    this.timers[name] = setTimeout(() => { delete this.timers[name]; fn(); }, ms);
  }

  /** Until the user clicks a row: the best trial, else a running one. */
  autoSelect() {
    if (this.chosen && this.trials.has(this.selected)) return;
    const trials = [...this.trials.values()].sort((a, b) => a.number - b.number);
    const best = this.sweep?.best?.trial_id;
    const pick = this.trials.has(best) ? best
      : (trials.find((t) => t.state === 'running') || trials.find((t) => t.epochs_done > 0))?.id;
    if (pick !== undefined && pick !== this.selected) this.select(pick, false);
  }

  async select(id, byUser) {
    this.selected = id;
    this.chosen = this.chosen || byUser;
    this.render();
    try {
      const detail = await api(`/v1/trials/${id}`);
      if (this.closed) return;
      const losses = mapFor(this.losses, id);
      for (const b of detail.batch_losses) losses.set(b.step, b.loss);
      const curve = mapFor(this.curves, id);
      for (const r of detail.epochs) if (!curve.has(r.epoch)) curve.set(r.epoch, r);
      this.render();
    } catch (e) {
      this.showError(e.message);
    }
  }

  async cancel() {
    $('#cancel').disabled = true;
    try {
      this.sweep = { ...this.sweep, ...(await api(`/v1/sweeps/${this.id}/cancel`, { method: 'POST' })) };
      this.render();
      this.onEnd();
    } catch (e) {
      this.showError(`cancel: ${e.message}`);
    }
    this.later('refresh', 700, () => this.refresh());
  }

  showError(message) {
    $('#error').hidden = !message;
    $('#error').textContent = message || '';
  }

  showLive(state) {
    $('#live').textContent = state;
    $('#live').className = `live live-${state}`;
  }

  render() {
    if (this.closed) return;
    try {
      this.renderHead();
      this.renderTable();
      this.renderCharts();
    } catch (e) {
      // A drawing bug shows on the page and keeps the live stream going.
      console.error(e);
      this.showError(`cannot draw the sweep: ${e.message}`);
    }
  }

  renderHead() {
    const s = this.sweep;
    $('#sweep').classList.toggle('missing', !s && this.missing === true);
    $('#sweep-name').textContent = s ? s.name : this.missing ? 'Sweep' : 'loading…';
    $('#sweep-id').textContent = `#${this.id}`;
    $('#sweep-state').textContent = s ? s.state + (s.ended_by && s.ended_by !== s.state ? ` (${s.ended_by})` : '') : '';
    $('#sweep-state').className = `state state-${s?.state || 'none'}`;
    $('#cancel').disabled = !s || s.state !== 'running';
    $('#parallel-metric').textContent = s ? s.metric.name : 'metric';
    if (!s) { $('#sweep-meta').textContent = ''; $('#summary').replaceChildren(); return; }
    $('#sweep-meta').textContent = [s.dataset, s.method, `${s.metric.goal} ${s.metric.name}`,
      s.max_parallel ? `${s.max_parallel} at a time` : null, `created ${s.created_at}`]
      .filter(Boolean).join(' · ');
    // Counted from the table's rows, which events keep more current than a fetch.
    const t = { ...s.trials };
    if (this.trials.size > 0) {
      for (const k of ['queued', 'running', 'completed', 'pruned', 'failed', 'cancelled']) t[k] = 0;
      for (const trial of this.trials.values()) t[trial.state] = (t[trial.state] || 0) + 1;
    }
    const chips = ['queued', 'running', 'completed', 'pruned', 'failed', 'cancelled']
      .filter((k) => t[k] > 0 || k === 'running' || k === 'completed')
      .map((k) => h('span', { class: `chip state-${k}` }, `${t[k]} ${k}`));
    const best = s.best ? h('span', { class: 'chip best', id: 'best' },
      `★ best: trial #${s.best.number}, ${s.metric.name} ${fixed(s.best.value)}`)
      : h('span', { class: 'chip muted', id: 'best' }, 'no finished trial yet');
    const rungs = (s.rungs || []).map((r) => h('span', { class: 'chip' },
      `rung ${r.epoch}: ${r.promoted}/${r.reached} promoted`));
    $('#summary').replaceChildren(h('span', { class: 'chip' }, `${t.total} trials`), ...chips, best, ...rungs);
  }

  renderTable() {
    const { key, dir } = this.sort;
    const value = (t) => {
      const v = key in t ? t[key] : t.params?.[key];
      return Array.isArray(v) ? layers(v) : v;
    };
    const rows = [...this.trials.values()].sort((a, b) => {
      const [x, y] = [value(a), value(b)];
      if (x === y) return a.number - b.number;
      if (x === null || x === undefined) return 1; // missing values last, either way
      if (y === null || y === undefined) return -1;
      return (typeof x === 'number' ? x - y : String(x).localeCompare(String(y), 'en', { numeric: true })) * dir;
    });
    const best = this.sweep?.best?.trial_id;
    // Rows are updated in place: a row keeps its element while it is hovered or clicked.
    const body = $('#trials tbody');
    const old = new Map([...body.children].map((tr) => [tr.dataset.trialId, tr]));
    body.replaceChildren(...rows.map((t) => {
      const fresh = this.row(t, t.id === best);
      const tr = old.get(String(t.id));
      if (!tr) return fresh;
      tr.className = fresh.className;
      tr.replaceChildren(...fresh.childNodes);
      return tr;
    }));
    for (const th of document.querySelectorAll('#trials th')) {
      const sorted = th.dataset.key === key;
      th.classList.toggle('sorted', sorted);
      th.setAttribute('aria-sort', sorted ? (dir > 0 ? 'ascending' : 'descending') : 'none');
    }
  }

  row(t, isBest) {
    const p = t.params || {};
    const progress = this.progress.get(t.id);
    let epochs = h('span', {}, p.epochs ? `${t.epochs_done} / ${p.epochs}` : String(t.epochs_done));
    if (t.state === 'running' && progress) {
      const done = (progress.epoch - 1 + progress.batch / progress.batches) / progress.epochs;
      epochs = h('span', { class: 'progress', title: `epoch ${progress.epoch}, batch ${progress.batch} of ${progress.batches}` },
        epochs, h('span', { class: 'bar' }, h('span', { style: `width:${(100 * done).toFixed(1)}%` })));
    }
    const classes = [`state-${t.state}`, isBest ? 'best' : '', t.id === this.selected ? 'selected' : ''];
    return h('tr', { 'data-trial-id': t.id, class: classes.join(' ').trim() },
      h('td', {}, h('span', { class: 'swatch', style: `background:${trialColor(t.number)}` }),
        String(t.number), isBest ? h('span', { class: 'star', title: 'best trial' }, ' ★') : null),
      h('td', {}, h('span', { class: `state state-${t.state}`, title: t.error || '' }, t.state)),
      h('td', { class: 'num' }, t.params ? fmt(p.learning_rate) : '–'),
      h('td', { class: 'num' }, p.batch_size ?? '–'),
      h('td', {}, t.params ? layers(p.hidden_layers) : '–'),
      h('td', {}, p.optimizer ?? '–'),
      h('td', { class: 'num' }, t.params ? fmt(p.dropout) : '–'),
      h('td', { class: 'num' }, epochs),
      h('td', { class: 'num' }, fixed(t.val_accuracy)),
      h('td', { class: 'num' }, fixed(t.val_loss)));
  }

  renderCharts() {
    const best = this.sweep?.best?.trial_id;
    const rank = { faded: 0, '': 1, running: 1, selected: 2, best: 3 };
    const look = (t) => (t.id === best ? 'best' : t.id === this.selected ? 'selected'
      : ['pruned', 'failed', 'cancelled'].includes(t.state) ? 'faded' : t.state === 'running' ? 'running' : '');
    const trials = [...this.trials.values()].sort((a, b) => rank[look(a)] - rank[look(b)] || a.number - b.number);
    const label = (t) => `trial #${t.number} (${t.state})${t.params ? ` lr ${fmt(t.params.learning_rate)}` : ''}`;
    const perEpoch = (field) => trials.map((t) => ({
      label: label(t), color: trialColor(t.number), cls: look(t),
      points: [...(this.curves.get(t.id) || new Map()).values()]
        .sort((a, b) => a.epoch - b.epoch).map((r) => [r.epoch, r[field]]),
    }));
    lineChart($('#accuracy-chart'), { series: perEpoch('val_accuracy'), xLabel: 'epoch', yLabel: 'validation accuracy', integerX: true });
    lineChart($('#loss-chart'), { series: perEpoch('val_loss'), xLabel: 'epoch', yLabel: 'validation loss', integerX: true });

    const chosen = this.trials.get(this.selected);
    $('#batch-trial').textContent = chosen ? `trial #${chosen.number} (${chosen.state})` : '';
    const losses = [...(this.losses.get(this.selected) || new Map())].sort((a, b) => a[0] - b[0]);
    lineChart($('#batch-loss-chart'), {
      series: chosen ? [{ label: label(chosen), color: trialColor(chosen.number), cls: 'selected', points: losses }] : [],
      xLabel: 'batches trained', yLabel: 'training loss',
      empty: chosen ? 'no sample yet: one every 100 batches' : 'click a trial to see its training loss',
    });

    const withParams = trials.filter((t) => t.params);
    const value = (t, k) => (k === 'hidden_layers' ? layers(t.params[k]) : t.params[k]);
    let varying = PARAMS.filter((k) => new Set(withParams.map((t) => JSON.stringify(t.params[k]))).size > 1);
    if (varying.length === 0) varying = ['learning_rate'];
    const metric = this.sweep?.metric.name || 'val_accuracy';
    parallelChart($('#parallel-chart'), {
      axes: [...varying, metric].map((name) => ({ name })),
      lines: withParams.map((t) => ({ label: label(t), color: trialColor(t.number), cls: look(t),
        values: [...varying.map((k) => value(t, k)), t[metric]] })),
    });
  }
}
