// One sweep watched live. Its state is fetched once, then kept current by
// its event stream (a tail of the events table, replayed from the start),
// with a re-fetch of the sweep and its trials after state changes. An ended
// sweep's curves are read from its trials, so that it shows its data.
import { lineChart, trialColor } from './charts.js';
import { renderControls } from './controls.js';
import { $, api } from './dom.js';
import { parallelChart } from './parallel.js';
import { renderHead, renderImportance, renderPlots, renderTrial } from './panels.js';
import { layers, listed, renderTable, sweptParams } from './table.js';

const KINDS = ['sweep_created', 'trial_queued', 'trial_sampled', 'trial_started', 'trial_progress',
  'epoch_report', 'trial_pruned', 'trial_completed', 'trial_failed', 'trial_cancelled',
  'trial_requeued', 'trial_grouped', 'best_changed', 'sweep_completed', 'sweep_cancelled', 'sweep_resumed'];
// Events after which the sweep and its trials are fetched again.
const REFETCH = new Set(['sweep_created', 'trial_queued', 'trial_sampled', 'trial_completed',
  'trial_failed', 'trial_cancelled', 'trial_requeued', 'trial_pruned', 'best_changed',
  'sweep_completed', 'sweep_cancelled', 'sweep_resumed']);
const ENDED_STATE = { trial_pruned: 'pruned', trial_completed: 'completed', trial_failed: 'failed',
  trial_cancelled: 'cancelled', trial_requeued: 'queued' };

const mapFor = (maps, key) => maps.get(key) || maps.set(key, new Map()).get(key);

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
    this.details = new Set(); // trials whose reports were fetched
    this.selected = null;
    this.chosen = false; // the user picked the selected trial
    this.trialNumber = null; // the trial the URL names, if any
    this.sort = { key: 'number', dir: 1 };
    this.brushes = new Map(); // parallel-coordinates axis -> [lo, hi]
    this.brushed = null; // ids of the trials that pass the brushes, null for no brush
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
    renderImportance(this);
    if (this.sweep.state !== 'running') this.loadCurves();
    return true;
  }

  /** The reports of ended trials not seen on the stream, a few at a time. */
  async loadCurves() {
    const todo = [...this.trials.values()]
      .filter((t) => t.epochs_done > 0 && !this.details.has(t.id) && (this.curves.get(t.id)?.size || 0) < t.epochs_done)
      .slice(0, 500);
    const next = async () => {
      for (let t = todo.shift(); t && !this.closed; t = todo.shift()) {
        this.details.add(t.id);
        try { this.absorb(t.id, await api(`/v1/trials/${t.id}`)); } catch { /* shown by the next refresh */ }
        this.later('render', 150, () => this.render());
      }
    };
    await Promise.all([next(), next(), next(), next()]);
  }

  /** Keeps the reports and samples of a fetched trial. */
  absorb(id, detail) {
    const losses = mapFor(this.losses, id);
    for (const b of detail.batch_losses || []) losses.set(b.step, b.loss);
    const curve = mapFor(this.curves, id);
    for (const r of detail.epochs || []) if (!curve.has(r.epoch)) curve.set(r.epoch, r);
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
      this.patch(id, { state: 'running', attempt: d.attempt, worker: d.worker, epochs_done: 0, group: null,
        train_loss: null, val_loss: null, val_accuracy: null, started_at: event.created_at, finished_at: null });
    } else if (kind === 'trial_grouped') {
      this.patch(id, { group: { size: d.size, members: d.members } });
    } else if (kind === 'trial_progress') {
      this.progress.set(id, d);
      mapFor(this.losses, id).set(d.step, d.loss);
    } else if (kind === 'epoch_report') {
      const r = d.report;
      mapFor(this.curves, id).set(r.epoch, r);
      this.patch(id, { epochs_done: r.epoch, train_loss: r.train_loss, val_loss: r.val_loss,
        val_accuracy: r.val_accuracy });
    } else if (kind in ENDED_STATE) {
      const ended = kind === 'trial_requeued' ? null : event.created_at;
      this.patch(id, { state: ENDED_STATE[kind], error: d.error ?? d.reason ?? null, finished_at: ended });
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

  /** The trial the URL names (its number), or none. */
  showTrial(number) {
    this.trialNumber = number;
    const trial = [...this.trials.values()].find((t) => t.number === number);
    if (trial) this.select(trial.id, true);
    else this.render();
  }

  /** Until the user picks a trial: the best trial, else a running one. */
  autoSelect() {
    if (this.trialNumber !== null) {
      const named = [...this.trials.values()].find((t) => t.number === this.trialNumber);
      if (named && named.id !== this.selected) this.select(named.id, true);
      return;
    }
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
    const trial = this.trials.get(id);
    try {
      // By the sweep's own number; a server without that route: by the global id.
      const detail = await api(`/v1/sweeps/${this.id}/trials/${trial.number}`)
        .catch(() => api(`/v1/trials/${id}`));
      if (this.closed) return;
      this.absorb(id, detail);
      this.render();
    } catch (e) {
      this.showError(e.message);
    }
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
      renderHead(this);
      this.renderCharts();
      renderTable(this);
      renderTrial(this);
      renderPlots(this);
      renderControls(this);
    } catch (e) {
      // A drawing bug shows on the page and keeps the live stream going.
      console.error(e);
      this.showError(`cannot draw the sweep: ${e.message}`);
    }
  }

  /** How a trial's line looks: best, selected, faded (ended early), running. */
  look(t) {
    const best = this.sweep?.best?.trial_id;
    return t.id === best ? 'best' : t.id === this.selected ? 'selected'
      : ['pruned', 'failed', 'cancelled'].includes(t.state) ? 'faded' : t.state === 'running' ? 'running' : '';
  }

  renderCharts() {
    const rank = { faded: 0, '': 1, running: 1, selected: 2, best: 3 };
    const trials = [...this.trials.values()]
      .sort((a, b) => rank[this.look(a)] - rank[this.look(b)] || a.number - b.number);
    const label = (t) => `trial #${t.number} (${t.state})`;
    const perEpoch = (field) => trials.map((t) => ({
      label: label(t), short: `#${t.number}`, color: trialColor(t.number), cls: this.look(t),
      points: [...(this.curves.get(t.id) || new Map()).values()]
        .sort((a, b) => a.epoch - b.epoch).map((r) => [r.epoch, r[field]]),
    }));
    const waiting = this.sweep && this.sweep.state !== 'running' ? 'no trial reported an epoch' : 'no data yet';
    lineChart($('#accuracy-chart'), { series: perEpoch('val_accuracy'), xLabel: 'epoch', yLabel: 'validation accuracy', integerX: true, empty: waiting });
    lineChart($('#loss-chart'), { series: perEpoch('val_loss'), xLabel: 'epoch', yLabel: 'validation loss', integerX: true, empty: waiting });

    const chosen = this.trials.get(this.selected);
    $('#batch-trial').textContent = chosen ? `trial #${chosen.number} (${chosen.state})` : '';
    const losses = [...(this.losses.get(this.selected) || new Map())].sort((a, b) => a[0] - b[0]);
    lineChart($('#batch-loss-chart'), {
      series: chosen ? [{ label: label(chosen), short: `#${chosen.number}`, color: trialColor(chosen.number), cls: 'selected', points: losses }] : [],
      xLabel: 'batches trained', yLabel: 'training loss',
      empty: chosen ? 'no sample: one every 100 batches' : 'click a trial to see its training loss',
    });

    const withParams = trials.filter((t) => t.params);
    const params = sweptParams(this.sweep, withParams);
    const metric = this.sweep?.metric.name || 'val_accuracy';
    const value = (t, k) => (Array.isArray(t.params[k]) ? layers(t.params[k]) : t.params[k]);
    const brushed = parallelChart($('#parallel-chart'), {
      axes: [...params.map((name) => ({ name, listed: listed(this.sweep, name) })), { name: metric }],
      lines: withParams.map((t) => ({ id: t.id, label: label(t), short: `#${t.number}`, color: trialColor(t.number),
        cls: this.look(t), values: [...params.map((k) => value(t, k)), t[metric]] })),
      brushes: this.brushes,
      onBrush: (name, range) => {
        if (range) this.brushes.set(name, range); else this.brushes.delete(name);
        this.render();
      },
    });
    this.brushed = this.brushes.size ? brushed : null;
  }
}
