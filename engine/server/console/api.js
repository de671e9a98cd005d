// The console's calls to the admin API: same origin, the session cookie,
// and the session's CSRF token on every state change.
let session = null;

export class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function toLogin() { location.assign('/console/login'); }

async function call(method, path, headers = {}) {
  const r = await fetch(path, { method, headers, credentials: 'same-origin', cache: 'no-store' });
  if (r.status === 401) { toLogin(); throw new HttpError(401, 'logged out'); }
  const text = await r.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { error: text }; }
  if (!r.ok) throw new HttpError(r.status, (body && body.error) || `HTTP ${r.status}`);
  return body;
}

export async function loadSession() {
  session = await call('GET', '/console/session');
  return session;
}

export function mayOperate() {
  return !!session && (session.scope === 'operate' || session.scope === 'admin');
}

export const get = (path) => call('GET', path);
export const post = (path) => call('POST', path, { 'X-Reqflow-CSRF': session ? session.csrf || '' : '' });

export async function logout() {
  await fetch('/console/logout', {
    method: 'POST', credentials: 'same-origin',
    headers: { 'X-Reqflow-CSRF': session ? session.csrf || '' : '' },
  });
  session = null;
  toLogin();
}

// A DOM element: el('a', {href: '#/x', class: 'y'}, 'text', child...).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

// Times as everywhere else in reqflow (API, CLI, logs): ISO 8601, UTC,
// milliseconds — one format an operator can paste into `since=` or a log search.
export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toISOString();
}

export function duration(ms) {
  if (ms === null || ms === undefined || isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

export function statusBadge(status) {
  return el('span', { class: `status s-${status}` }, status);
}

export function json(v) {
  return el('pre', { class: 'json' }, v === undefined || v === null ? '—' : JSON.stringify(v, null, 2));
}

export function errorBox(e) {
  return el('p', { class: 'error', role: 'alert' }, e instanceof Error ? e.message : String(e));
}

// An SVG element: svg('rect', {x: 1, class: 'n'}, child...).
// The SVG namespace as the HTML parser gives it (no URL written in the assets).
const SVG_NS = (() => { const d = document.createElement('div'); d.innerHTML = '<svg></svg>'; return d.firstChild.namespaceURI; })();
export function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
