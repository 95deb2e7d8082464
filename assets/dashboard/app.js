// The dashboard: the list of sweeps beside the view the URL hash names:
// `#/sweeps/ID`, `#/sweeps/ID/trials/NUMBER` (a trial by its number in the
// sweep), `#/compare/1,2` (sweeps side by side), else the home page.
import { CompareView } from './compare.js';
import { wireControls } from './controls.js';
import { $, api, h } from './dom.js';
import { SweepView } from './sweep.js';

/** The sweep the page shows, or null. */
let view = null;
/** The comparison the page shows, or null. */
let comparison = null;
let listTimer;

// ---- the list of sweeps ----------------------------------------------------

/** How many sweeps the list shows: a page, and more as the user asks. */
let shown = 100;

async function loadSweeps() {
  clearTimeout(listTimer);
  let running = false;
  try {
    // The list comes in pages, newest first; a refresh reloads what is shown.
    const sweeps = [];
    let next = null;
    do {
      const limit = Math.min(1000, shown - sweeps.length);
      const page = await api(`/v1/sweeps?limit=${limit}` + (next ? `&before=${next}` : ''));
      sweeps.push(...page.sweeps);
      next = page.next;
    } while (next && sweeps.length < shown);
    running = sweeps.some((s) => s.state === 'running');
    const items = sweeps.length ? sweeps.map(sweepItem)
      : [h('li', { class: 'muted' }, 'No sweeps yet.')];
    if (next) {
      const more = h('button', { type: 'button', class: 'more' }, 'Show older sweeps');
      more.addEventListener('click', () => { shown += 100; loadSweeps(); });
      items.push(h('li', { class: 'more' }, more));
    }
    $('#sweeps').replaceChildren(...items);
    markActive();
  } catch (e) {
    $('#sweeps').replaceChildren(h('li', { class: 'error' }, `cannot list sweeps: ${e.message}`));
  }
  listTimer = setTimeout(loadSweeps, running ? 5000 : 30000);
}

function sweepItem(s) {
  const t = s.trials;
  return h('li', { 'data-sweep-id': s.id }, h('a', { href: `#/sweeps/${s.id}` },
    h('span', { class: 'name' }, s.name, h('span', { class: 'muted' }, ` #${s.id}`)),
    h('span', { class: 'meta' }, h('span', { class: `state state-${s.state}` }, s.state),
      ` ${t.completed + t.pruned}/${t.total} done · ${s.method}`)));
}

function markActive() {
  for (const li of document.querySelectorAll('#sweeps li[data-sweep-id]')) {
    li.classList.toggle('active', view !== null && Number(li.dataset.sweepId) === view.id);
  }
}

// ---- routing and the page's controls ---------------------------------------

function route() {
  const sweep = location.hash.match(/^#\/sweeps\/(\d+)(?:\/trials\/(\d+))?\/?$/);
  const compare = location.hash.match(/^#\/compare\/(\d+(?:,\d+)+)\/?$/);
  const id = sweep ? Number(sweep[1]) : null;
  const trial = sweep && sweep[2] !== undefined ? Number(sweep[2]) : null;
  if (view && view.id !== id) { view.close(); view = null; }
  comparison?.close();
  comparison = compare ? new CompareView(compare[1].split(',').map(Number)) : null;
  if (sweep && !view) {
    view = new SweepView(id, loadSweeps);
    $('#live').textContent = '';
    $('#live').className = 'live';
  }
  view?.showTrial(trial);
  $('#home').hidden = view !== null || comparison !== null;
  $('#sweep').hidden = view === null;
  $('#compare').hidden = comparison === null;
  markActive();
}

// The address this page was served from, for the commands on the home page.
for (const node of document.querySelectorAll('.origin')) node.textContent = location.origin;
$('#compare-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const ids = $('#compare-ids').value.split(/[\s,]+/).filter((x) => /^\d+$/.test(x));
  if (ids.length >= 2) location.hash = `#/compare/${ids.join(',')}`;
});
$('#compare-with').addEventListener('submit', (e) => {
  e.preventDefault();
  const ids = $('#compare-other').value.split(/[\s,]+/).filter((x) => /^\d+$/.test(x));
  if (view && ids.length) location.hash = `#/compare/${[view.id, ...ids].join(',')}`;
});
$('#trials thead').addEventListener('click', (e) => {
  const th = e.target.closest('th[data-key]');
  if (!th || !view) return;
  const key = th.dataset.key;
  // Accuracy and progress read best from the top down; everything else ascending.
  const first = key === 'val_accuracy' || key === 'epochs_done' ? -1 : 1;
  view.sort = { key, dir: view.sort.key === key ? -view.sort.dir : first };
  view.render();
});
$('#trials tbody').addEventListener('click', (e) => {
  const tr = e.target.closest('tr[data-trial-id]');
  if (tr && view && !e.target.closest('a')) location.hash = `#/sweeps/${view.id}/trials/${tr.dataset.trialNumber}`;
});
for (const id of ['#state-filter', '#text-filter']) $(id).addEventListener('input', () => view?.render());
for (const id of ['#slice-param', '#contour-x', '#contour-y']) $(id).addEventListener('change', () => view?.render());
$('#importance-pruned').addEventListener('change', () => { if (view) { view.importanceFor = null; view.refresh(); } });
$('#clear-brushes').addEventListener('click', () => { if (view) { view.brushes.clear(); view.render(); } });
let resizing;
window.addEventListener('resize', () => { clearTimeout(resizing); resizing = setTimeout(() => view?.render(), 150); });
wireControls(() => view, loadSweeps);
// Ends this browser's session; a server with a token then asks for it again.
$('#sign-out').addEventListener('click', async () => {
  await fetch('/v1/session', { method: 'DELETE' }).catch(() => {});
  location.reload();
});
window.addEventListener('hashchange', route);
route();
loadSweeps();
