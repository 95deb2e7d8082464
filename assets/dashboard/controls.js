// What a user can do to a sweep from its page: cancel, extend its budget,
// enqueue a configuration, fork it with changes, delete it. Cancel and
// Delete ask first.
import { $, api, confirmAction, h, send } from './dom.js';
import { sweptParams } from './table.js';

/** A typed value from a form field: JSON where it parses (0.01, [128, 64], null), else text. */
export function typed(text) {
  const trimmed = text.trim();
  try { return JSON.parse(trimmed); } catch { return trimmed; }
}

/** Wires the controls to whichever sweep `current()` returns. */
export function wireControls(current, onChange) {
  const said = (id, text, ok = false) => {
    $(id).textContent = text;
    $(id).className = ok ? 'said ok' : 'said error-text';
  };
  $('#cancel').addEventListener('click', async () => {
    const view = current();
    if (!view || !(await confirmAction(`Cancel sweep #${view.id}? Its queued and running trials stop.`, 'Cancel sweep'))) return;
    $('#cancel').disabled = true;
    try {
      view.sweep = { ...view.sweep, ...(await api(`/v1/sweeps/${view.id}/cancel`, { method: 'POST' })) };
      view.render();
      onChange();
    } catch (e) {
      view.showError(`cancel: ${e.message}`);
    }
    view.later('refresh', 700, () => view.refresh());
  });
  $('#delete').addEventListener('click', async () => {
    const view = current();
    if (!view || !(await confirmAction(`Delete sweep #${view.id} with its trials, reports and events? This cannot be undone.`, 'Delete sweep'))) return;
    try {
      await api(`/v1/sweeps/${view.id}`, { method: 'DELETE' });
      onChange();
      location.hash = '#/';
    } catch (e) {
      view.showError(`delete: ${e.message}`);
    }
  });
  $('#extend-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const view = current();
    const body = {};
    if ($('#extend-trials').value) body.max_trials = Number($('#extend-trials').value);
    if ($('#extend-minutes').value) body.max_minutes = Number($('#extend-minutes').value);
    if (!Object.keys(body).length) { said('#extend-said', 'give max_trials or max_minutes'); return; }
    try {
      view.sweep = { ...view.sweep, ...(await send('PATCH', `/v1/sweeps/${view.id}`, body)) };
      said('#extend-said', 'extended', true);
      view.later('refresh', 300, () => view.refresh());
      onChange();
    } catch (err) {
      said('#extend-said', err.message);
    }
  });
  $('#enqueue-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const view = current();
    const params = {};
    for (const input of $('#enqueue-fields').querySelectorAll('input[name]')) {
      if (input.value.trim() !== '') params[input.name] = typed(input.value);
    }
    try {
      const trial = await send('POST', `/v1/sweeps/${view.id}/trials`, { params });
      said('#enqueue-said', `queued as trial #${trial.number}`, true);
      view.later('refresh', 300, () => view.refresh());
    } catch (err) {
      said('#enqueue-said', err.message);
    }
  });
  $('#fork-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const view = current();
    const text = $('#fork-spec').value.trim() || '{}';
    const json = text.startsWith('{');
    try {
      const sweep = await api(`/v1/sweeps/${view.id}/fork`, {
        method: 'POST', headers: { 'content-type': json ? 'application/json' : 'application/yaml' }, body: text,
      });
      onChange();
      location.hash = `#/sweeps/${sweep.id}`;
    } catch (err) {
      said('#fork-said', err.message);
    }
  });
}

/** The enqueue form's fields: one per swept parameter, its spec as a hint. */
export function renderControls(view) {
  const s = view.sweep;
  if (!s) return;
  const params = sweptParams(s, [...view.trials.values()]);
  const box = $('#enqueue-fields');
  if (box.dataset.names !== params.join('|')) {
    box.dataset.names = params.join('|');
    box.replaceChildren(...params.map((p) => h('label', {}, p,
      h('input', { name: p, placeholder: JSON.stringify(s.spec?.parameters?.[p] ?? '') }))));
  }
  $('#extend-trials').placeholder = `now ${s.max_trials}`;
}
