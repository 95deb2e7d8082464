// The dashboard: the list of sweeps beside the sweep the URL hash names
// (`#/sweeps/ID`).
import { $, api, h } from './dom.js';
import { SweepView } from './sweep.js';

/** The sweep the page shows, or null on the home view. */
let view = null;
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
  const match = location.hash.match(/^#\/sweeps\/(\d+)/);
  view?.close();
  view = match ? new SweepView(Number(match[1]), loadSweeps) : null;
  $('#home').hidden = view !== null;
  $('#sweep').hidden = view === null;
  if (view) { $('#live').textContent = ''; $('#live').className = 'live'; }
  markActive();
}

$('#trials thead').addEventListener('click', (e) => {
  const th = e.target.closest('th[data-key]');
  if (!th || !view) return;
  const key = th.dataset.key;
  // Accuracy and progress read best from the top down; everything else ascending.
  const first = key === 'val_accuracy' || key === 'epochs_done' ? -1 : 1;
  view.sort = { key, dir: view.sort.key === key ? -view.sort.dir : first };
  view.renderTable();
});
$('#trials tbody').addEventListener('click', (e) => {
  const tr = e.target.closest('tr[data-trial-id]');
  if (tr && view) view.select(Number(tr.dataset.trialId), true);
});
$('#cancel').addEventListener('click', () => view?.cancel());
// Ends this browser's session; a server with a token then asks for it again.
$('#sign-out').addEventListener('click', async () => {
  await fetch('/v1/session', { method: 'DELETE' }).catch(() => {});
  location.reload();
});
window.addEventListener('hashchange', route);
route();
loadSweeps();
