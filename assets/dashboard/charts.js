// SVG charts drawn by hand: line charts with ticked axes, and parallel
// coordinates. Every chart draws into a viewBox of 640 x 250.
const NS = 'http://www.w3.org/2000/svg';
const W = 640;
const H = 250;
const M = { left: 58, right: 18, top: 12, bottom: 40 };

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
  '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** The colour of a trial, by its number, the same in every chart and the table. */
export function trialColor(number) {
  return PALETTE[number % PALETTE.length];
}

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** About `n` round tick values covering [lo, hi]. */
export function ticks(lo, hi, n = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (!(hi > lo)) { const pad = Math.abs(lo) * 0.1 || 1; lo -= pad; hi += pad; }
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const step = mag * (f >= 7.5 ? 10 : f >= 3.5 ? 5 : f >= 1.5 ? 2 : 1);
  const out = [];
  for (let i = Math.floor(lo / step); out.length < 4 * n; i++) {
    out.push(Number((i * step).toPrecision(12)));
    if (i * step >= hi - step * 1e-9) break;
  }
  return out;
}

/** A short label for a number: 0.0003 -> 3e-4, 1234 -> 1234, 0.25 -> 0.25. */
export function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) return v.toExponential(0).replace('e-', 'e−');
  return String(Number(v.toPrecision(3)));
}

function frame(svg, message) {
  svg.replaceChildren();
  if (message) {
    svg.append(el('text', { x: W / 2, y: H / 2, class: 'empty', 'text-anchor': 'middle' }, message));
  }
}

/**
 * Draws lines on linear axes. `series`: [{label, color, points: [[x, y]], cls}],
 * where cls is '', 'faded', 'best' or 'selected'; later series draw on top.
 */
export function lineChart(svg, { series, xLabel, yLabel, integerX = false, empty = 'no data yet' }) {
  const finite = series.map((s) => ({ ...s, points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)) }));
  const all = finite.flatMap((s) => s.points);
  if (all.length === 0) { frame(svg, empty); return; }
  frame(svg);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  // Epoch axes start at 0 so that a first epoch is not drawn on the y axis.
  let xt = ticks(integerX ? 0 : Math.min(...xs), Math.max(...xs), 8);
  if (integerX) xt = xt.filter(Number.isInteger);
  const yt = ticks(Math.min(...ys), Math.max(...ys), 5);
  const [x0, x1] = [Math.min(xt[0], ...xs), Math.max(xt[xt.length - 1], ...xs)];
  const [y0, y1] = [yt[0], yt[yt.length - 1]];
  const sx = (x) => M.left + ((x - x0) / (x1 - x0 || 1)) * (W - M.left - M.right);
  const sy = (y) => H - M.bottom - ((y - y0) / (y1 - y0 || 1)) * (H - M.top - M.bottom);

  const grid = el('g', { class: 'gridlines' });
  const axes = el('g', { class: 'axis' });
  for (const t of yt) {
    grid.append(el('line', { x1: M.left, x2: W - M.right, y1: sy(t), y2: sy(t) }));
    axes.append(el('text', { x: M.left - 6, y: sy(t) + 4, 'text-anchor': 'end' }, fmt(t)));
  }
  for (const t of xt) {
    axes.append(el('line', { x1: sx(t), x2: sx(t), y1: H - M.bottom, y2: H - M.bottom + 5 }));
    axes.append(el('text', { x: sx(t), y: H - M.bottom + 18, 'text-anchor': 'middle' }, fmt(t)));
  }
  axes.append(el('line', { x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom }));
  axes.append(el('line', { x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom }));
  axes.append(el('text', { x: (M.left + W - M.right) / 2, y: H - 6, 'text-anchor': 'middle', class: 'label' }, xLabel));
  axes.append(el('text', { x: 14, y: (M.top + H - M.bottom) / 2, 'text-anchor': 'middle', class: 'label',
    transform: `rotate(-90 14 ${(M.top + H - M.bottom) / 2})` }, yLabel));
  svg.append(grid, axes);

  const lines = el('g', { class: 'lines' });
  for (const s of finite) {
    if (s.points.length === 0) continue;
    const g = el('g', { class: `series ${s.cls || ''}`, stroke: s.color, fill: s.color });
    g.append(el('title', {}, s.label));
    const d = s.points.map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
    g.append(el('path', { d, fill: 'none' }));
    if (s.points.length <= 60) {
      for (const [x, y] of s.points) g.append(el('circle', { cx: sx(x).toFixed(1), cy: sy(y).toFixed(1), r: 2.2 }));
    }
    lines.append(g);
  }
  svg.append(lines);
}

/** How an axis places values: a log scale when they span decades, categories for text. */
function scaleFor(values) {
  const present = values.filter((v) => v !== null && v !== undefined && !Number.isNaN(v));
  if (present.length === 0) return { at: () => 0.5, ticks: [] };
  if (present.some((v) => typeof v !== 'number')) {
    const cats = [...new Set(present.map(String))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    const at = (v) => (cats.length === 1 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1));
    return { at, ticks: cats.map((c) => [at(c), c]) };
  }
  let lo = Math.min(...present);
  let hi = Math.max(...present);
  if (lo > 0 && hi / lo > 20) {
    const [a, b] = [Math.log10(lo), Math.log10(hi)];
    const at = (v) => (Math.log10(v) - a) / (b - a);
    const decades = [];
    for (let e = Math.ceil(a); e <= Math.floor(b); e++) decades.push(10 ** e);
    return { at, ticks: [lo, ...decades, hi].map((v) => [at(v), fmt(v)]) };
  }
  if (hi === lo) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; }
  const at = (v) => (v - lo) / (hi - lo);
  return { at, ticks: ticks(lo, hi, 4).filter((t) => t >= lo && t <= hi).map((t) => [at(t), fmt(t)]) };
}

/**
 * Parallel coordinates: one vertical axis per entry of `axes` ([{name}]), one
 * polyline per entry of `lines` ({label, color, cls, values: [v per axis]}).
 * A line stops at its first missing value.
 */
export function parallelChart(svg, { axes, lines, empty = 'no trial has parameters yet' }) {
  if (axes.length < 2 || lines.length === 0) { frame(svg, empty); return; }
  frame(svg);
  const top = M.top + 8;
  const bottom = H - 34;
  const left = 70;
  const right = W - 70;
  const xs = axes.map((_, i) => left + (i * (right - left)) / (axes.length - 1));
  const scales = axes.map((_, i) => scaleFor(lines.map((l) => l.values[i])));
  const y = (i, v) => bottom - scales[i].at(v) * (bottom - top);

  const drawn = el('g', { class: 'lines' });
  for (const l of lines) {
    const pts = [];
    for (let i = 0; i < axes.length; i++) {
      const v = l.values[i];
      if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) break;
      pts.push(`${xs[i].toFixed(1)},${y(i, v).toFixed(1)}`);
    }
    if (pts.length < 2) continue;
    const g = el('g', { class: `series ${l.cls || ''}`, stroke: l.color });
    g.append(el('title', {}, l.label));
    g.append(el('polyline', { points: pts.join(' '), fill: 'none' }));
    drawn.append(g);
  }

  const axesG = el('g', { class: 'axis' });
  axes.forEach((a, i) => {
    axesG.append(el('line', { x1: xs[i], x2: xs[i], y1: top, y2: bottom }));
    axesG.append(el('text', { x: xs[i], y: H - 12, 'text-anchor': 'middle', class: 'label' }, a.name));
    // The last axis (the metric) is labelled on its right, in the margin.
    const side = i === axes.length - 1 ? 1 : -1;
    for (const [at, text] of scales[i].ticks) {
      const ty = bottom - at * (bottom - top);
      axesG.append(el('line', { x1: xs[i] + 4 * side, x2: xs[i], y1: ty, y2: ty }));
      axesG.append(el('text', { x: xs[i] + 7 * side, y: ty + 4, 'text-anchor': side > 0 ? 'start' : 'end', class: 'tick' }, text));
    }
  });
  svg.append(drawn, axesG);
}
