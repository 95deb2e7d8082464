// SVG charts drawn by hand: line charts with ticked axes, bar charts, and
// their legends. Every chart draws into a viewBox of 640 x 250 (parallel
// coordinates: parallel.js).
const NS = 'http://www.w3.org/2000/svg';
const W = 640;
const H = 250;
const M = { left: 58, right: 18, top: 12, bottom: 40 };

/**
 * The colour of a trial, by its number, the same in every chart and the
 * table: hues a golden angle apart never repeat, and three lightnesses in
 * turn keep neighbours apart.
 */
export function trialColor(number) {
  const hue = (number * 137.50776) % 360;
  return `hsl(${hue.toFixed(1)}, 68%, ${[46, 58, 38][number % 3]}%)`;
}

export function el(tag, attrs = {}, text) {
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

export function frame(svg, message) {
  svg.replaceChildren();
  if (message) {
    svg.append(el('text', { x: W / 2, y: H / 2, class: 'empty', 'text-anchor': 'middle' }, message));
  }
}

/**
 * Draws lines on linear axes. `series`: [{label, color, points: [[x, y]], cls}],
 * where cls is '', 'faded', 'best' or 'selected'; later series draw on top.
 */
export function lineChart(svg, { series, xLabel, yLabel, integerX = false, empty = 'no data yet', xFormat = fmt, note }) {
  legend(svg, series.filter((s) => s.points.length > 0), note);
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
    axes.append(el('text', { x: sx(t), y: H - M.bottom + 18, 'text-anchor': 'middle' }, xFormat(t)));
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

/**
 * The legend of a chart: an HTML list after its SVG (made once), one entry
 * per series ({label, color, cls}); a line's look (thick: best, faded:
 * ended early, dashed: running) is said once below.
 */
export function legend(svg, series, note = 'thick: best · dashed: running · faint: pruned, failed or cancelled') {
  let box = svg.nextElementSibling;
  if (!box || !box.classList.contains('legend')) {
    box = document.createElement('div');
    box.className = 'legend';
    svg.after(box);
  }
  const items = series.slice(0, 60).map((s) => {
    const item = document.createElement('span');
    item.className = `legend-item ${s.cls || ''}`;
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = s.color;
    item.append(swatch, s.short || s.label);
    item.title = s.label;
    return item;
  });
  if (series.length > 60) items.push(Object.assign(document.createElement('span'), { textContent: `… ${series.length - 60} more` }));
  const hint = document.createElement('span');
  hint.className = 'legend-note';
  hint.textContent = series.length ? note : '';
  box.replaceChildren(...items, hint);
}

/** Horizontal bars: [{label, value}] with values in [0, 1], largest first. */
export function barChart(svg, { bars, color = 'var(--accent)', empty = 'no data yet', unit = 'share of the variance' }) {
  if (bars.length === 0) { frame(svg, empty); legend(svg, []); return; }
  frame(svg);
  const left = 130;
  const right = W - 60;
  const row = Math.min(28, (H - M.top - 30) / bars.length);
  const max = Math.max(...bars.map((b) => b.value), 1e-9);
  const g = el('g', { class: 'bars' });
  bars.forEach((b, i) => {
    const y = M.top + i * row;
    const width = (Math.max(0, b.value) / max) * (right - left);
    const bar = el('g', { class: 'bar-row', 'data-param': b.label });
    bar.append(el('title', {}, `${b.label}: ${(100 * b.value).toFixed(1)}%`));
    bar.append(el('text', { x: left - 8, y: y + row * 0.62, 'text-anchor': 'end', class: 'label' }, b.label));
    bar.append(el('rect', { x: left, y: y + row * 0.15, width: width.toFixed(1), height: (row * 0.7).toFixed(1), fill: color }));
    bar.append(el('text', { x: left + width + 6, y: y + row * 0.62, class: 'tick' }, `${(100 * b.value).toFixed(1)}%`));
    g.append(bar);
  });
  const axis = el('g', { class: 'axis' });
  axis.append(el('line', { x1: left, x2: left, y1: M.top, y2: M.top + bars.length * row }));
  svg.append(g, axis);
  legend(svg, [{ label: unit, short: unit, color }], '');
}
