// Small helpers for building the page and calling the API.

export const $ = (selector) => document.querySelector(selector);

/** An HTML element with attributes and children (text is escaped by the DOM). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** A JSON API call; an error response throws its message. */
export async function api(path, options) {
  const response = await fetch(path, options);
  // The server's API token is missing or has changed: loading the page again
  // shows its sign-in form, which comes back here once signed in.
  if (response.status === 401) location.reload();
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(body?.error?.message || `${response.status} ${response.statusText}`);
  return body;
}
