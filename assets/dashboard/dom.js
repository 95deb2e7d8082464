// Small helpers for building the page and calling the API.

export const $ = (selector) => document.querySelector(selector);

/** An HTML element with attributes and children (text is escaped by the DOM). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/**
 * A JSON API call; an error response throws its message, with the field at
 * fault and the status as `field` and `status`. A 204 answers null.
 */
export async function api(path, options) {
  const response = await fetch(path, options);
  // The server's API token is missing or has changed: loading the page again
  // shows its sign-in form, which comes back here once signed in.
  if (response.status === 401) location.reload();
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const field = body?.error?.field;
    const error = new Error((body?.error?.message || `${response.status} ${response.statusText}`)
      + (field ? ` (field ${field})` : ''));
    error.field = field;
    error.status = response.status;
    throw error;
  }
  return body;
}

/** JSON `body` sent with `method` to `path`. */
export const send = (method, path, body) => api(path, {
  method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});

/**
 * Asks before doing something that cannot be undone: a dialog on the page
 * (#confirm); resolves true on its confirm button, false otherwise.
 */
export function confirmAction(question, action = 'Confirm') {
  const dialog = $('#confirm');
  $('#confirm-text').textContent = question;
  $('#confirm-yes').textContent = action;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true });
  });
}
