// Parallel coordinates over the chart's full width: one axis per swept
// parameter and the metric, one line per trial. Listed values (a spec's
// `values`, text) get a tick each; `n/a` (a parameter switched off by
// `when`) has its own place below an axis. Dragging along an axis brushes a
// range; the trials whose lines pass every brush are the ones the table shows.
import { el, fmt, frame, legend, ticks } from './charts.js';

const H = 270;
const TOP = 20;
const BOTTOM = H - 52;
const NA = -0.1; // where n/a sits, as a share of the axis' height

const missing = (v) => v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v));

/** How an axis places values: listed or text values a tick each, a log scale over decades. */
function scaleFor(axis, values) {
  const present = values.filter((v) => !missing(v));
  const hasNa = present.length < values.length;
  const na = hasNa ? [[NA, 'n/a']] : [];
  const atNa = (f) => (v) => (missing(v) ? NA : f(v));
  // Listed numbers read upwards from the smallest; other lists keep their order.
  const numeric = axis.listed?.every((v) => typeof v === 'number');
  const order = numeric ? [...axis.listed].sort((a, b) => a - b) : axis.listed;
  const listed = order && order.length ? order.map(String) : null;
  if (listed || present.some((v) => typeof v !== 'number')) {
    const cats = listed || [...new Set(present.map(String))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    for (const v of present.map(String)) if (!cats.includes(v)) cats.push(v);
    const pos = (v) => (cats.length === 1 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1));
    return { at: atNa(pos), ticks: [...cats.map((c) => [pos(c), c]), ...na] };
  }
  if (present.length === 0) return { at: () => NA, ticks: na };
  let lo = Math.min(...present);
  let hi = Math.max(...present);
  if (lo > 0 && hi / lo > 20) {
    const [a, b] = [Math.log10(lo), Math.log10(hi)];
    const pos = (v) => (Math.log10(v) - a) / (b - a);
    const decades = [];
    for (let e = Math.ceil(a); e <= Math.floor(b); e++) decades.push(10 ** e);
    return { at: atNa(pos), ticks: [[0, fmt(lo)], ...decades.map((v) => [pos(v), fmt(v)]), [1, fmt(hi)], ...na] };
  }
  if (hi === lo) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; }
  const pos = (v) => (v - lo) / (hi - lo);
  const t = ticks(lo, hi, 4).filter((x) => x >= lo && x <= hi).map((x) => [pos(x), fmt(x)]);
  return { at: atNa(pos), ticks: [...t, ...na] };
}

/** Ticks no closer than `gap` pixels: the first, the last and those between that fit. */
function apart(list, y, gap = 13) {
  const sorted = [...list].sort((a, b) => a[0] - b[0]);
  const kept = [];
  for (const t of sorted) {
    if (kept.length && Math.abs(y(t[0]) - y(kept[kept.length - 1][0])) < gap) {
      // The axis' ends win over what lies between.
      if (t === sorted[sorted.length - 1] && kept.length > 1) kept.pop(); else continue;
    }
    kept.push(t);
  }
  return kept;
}

/**
 * Draws the chart. `axes`: [{name, listed?}], `lines`: [{id, label, color,
 * cls, values}], `brushes`: Map name -> [lo, hi] (shares of the axis'
 * height), `onBrush(name, range | null)`. Returns the ids of the lines that
 * pass every brush.
 */
export function parallelChart(svg, { axes, lines, brushes = new Map(), onBrush = () => {}, empty = 'no trial has parameters yet' }) {
  const W = Math.max(600, Math.round(svg.clientWidth || svg.parentElement?.clientWidth || 1000));
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  legend(svg, lines, 'drag along an axis to filter the trials; click it to clear');
  const passing = new Set(lines.map((l) => l.id));
  if (axes.length < 2 || lines.length === 0) { frame(svg, empty); return passing; }
  frame(svg);
  const left = 70;
  const right = W - 70;
  const xs = axes.map((_, i) => left + (i * (right - left)) / (axes.length - 1));
  const scales = axes.map((a, i) => scaleFor(a, lines.map((l) => l.values[i])));
  const y = (share) => BOTTOM - share * (BOTTOM - TOP);

  for (const l of lines) {
    const ok = axes.every((a, i) => {
      const range = brushes.get(a.name);
      if (!range) return true;
      const at = scales[i].at(l.values[i]);
      return at >= range[0] - 1e-9 && at <= range[1] + 1e-9;
    });
    if (!ok) passing.delete(l.id);
  }

  const drawn = el('g', { class: 'lines' });
  for (const l of lines) {
    const pts = axes.map((_, i) => `${xs[i].toFixed(1)},${y(scales[i].at(l.values[i])).toFixed(1)}`);
    const cls = `series ${l.cls || ''} ${passing.has(l.id) ? '' : 'filtered'}`;
    const g = el('g', { class: cls, stroke: l.color, 'data-trial-id': l.id });
    g.append(el('title', {}, l.label));
    g.append(el('polyline', { points: pts.join(' '), fill: 'none' }));
    drawn.append(g);
  }

  const spacing = axes.length > 1 ? (right - left) / (axes.length - 1) : W;
  const axesG = el('g', { class: 'axis' });
  axes.forEach((a, i) => {
    axesG.append(el('line', { x1: xs[i], x2: xs[i], y1: TOP, y2: BOTTOM }));
    // Names take two rows when axes stand close, and are cut to their room.
    const room = Math.max(4, Math.floor((spacing < 110 ? 2 * spacing : spacing) / 7));
    const name = a.name.length > room ? `${a.name.slice(0, room - 1)}…` : a.name;
    const row = spacing < 110 && i % 2 ? 16 : 0;
    const label = el('text', { x: xs[i], y: H - 22 + row, 'text-anchor': 'middle', class: 'label' }, name);
    label.append(el('title', {}, a.name));
    axesG.append(label);
    // The last axis (the metric) is labelled on its right, in the margin.
    const side = i === axes.length - 1 ? 1 : -1;
    for (const [at, text] of apart(scales[i].ticks, y)) {
      const ty = y(at);
      axesG.append(el('line', { x1: xs[i] + 4 * side, x2: xs[i], y1: ty, y2: ty }));
      const cut = text.length > 14 ? `${text.slice(0, 13)}…` : text;
      axesG.append(el('text', { x: xs[i] + 7 * side, y: ty + 4, 'text-anchor': side > 0 ? 'start' : 'end', class: 'tick' }, cut));
    }
    const range = brushes.get(a.name);
    if (range) {
      axesG.append(el('rect', { class: 'brush', x: xs[i] - 7, width: 14, y: y(range[1]), height: Math.max(2, y(range[0]) - y(range[1])) }));
    }
  });

  const areas = el('g', { class: 'brush-areas' });
  axes.forEach((a, i) => {
    const area = el('rect', { class: 'brush-area', 'data-axis': a.name, x: xs[i] - 14, width: 28, y: TOP - 6, height: y(NA) - TOP + 14 });
    area.addEventListener('pointerdown', (e) => startBrush(svg, e, a.name, y, onBrush, xs[i]));
    areas.append(area);
  });
  svg.append(drawn, axesG, areas);
  return passing;
}

/** Follows one drag along an axis; a click without a drag clears its brush. */
function startBrush(svg, down, name, y, onBrush, x) {
  down.preventDefault();
  const toY = (e) => {
    const pt = svg.createSVGPoint();
    pt.x = e.clientX;
    pt.y = e.clientY;
    return pt.matrixTransform(svg.getScreenCTM().inverse()).y;
  };
  const share = (py) => (BOTTOM - py) / (BOTTOM - y(1));
  const y0 = toY(down);
  const live = el('rect', { class: 'brush', x: x - 7, width: 14, y: y0, height: 0 });
  svg.append(live);
  const move = (e) => {
    const y1 = toY(e);
    live.setAttribute('y', Math.min(y0, y1));
    live.setAttribute('height', Math.abs(y1 - y0));
  };
  const up = (e) => {
    window.removeEventListener('pointermove', move);
    window.removeEventListener('pointerup', up);
    live.remove();
    const y1 = toY(e);
    if (Math.abs(y1 - y0) < 3) { onBrush(name, null); return; }
    const [a, b] = [share(y0), share(y1)];
    onBrush(name, [Math.min(a, b), Math.max(a, b)]);
  };
  window.addEventListener('pointermove', move);
  window.addEventListener('pointerup', up);
}
