// Connections: each workflow's connections with their type and state (never a
// secret), a Test button (operate scope) that shows the check's answer, and a
// Connect button (admin scope) for an OAuth connection: it asks the API for the
// authorize URL and goes there; the vendor sends the browser back to
// /connect/callback, which stores the token and links back here.
import { get, post, el, time, errorBox, mayOperate } from './api.js';

// The state fields worth a person's eye, in this order.
function stateText(c) {
  if (c.problem) return c.problem;
  const s = c.state || {};
  const parts = [];
  if (s.auth) parts.push(s.auth);
  if (s.refresh_token) parts.push(s.refresh_token);
  if (s.user) parts.push(`user ${s.user}`);
  if (s.connected_at) parts.push(`connected ${time(s.connected_at)}`);
  if (s.last_refresh) parts.push(`last refresh ${time(s.last_refresh)}`);
  if (s.last_error) parts.push(`last error: ${s.last_error.message || ''}`);
  return parts.join(' · ') || '—';
}

function answerOf(r) {
  const cls = r.ok ? 'notice ok' : 'notice error';
  const head = r.ok ? 'ok' : `failed (${r.class})`;
  return el('div', { class: cls, role: 'status', 'data-ok': String(r.ok), 'data-class': r.class || '' },
    el('strong', {}, head), ` ${r.message} `, el('span', { class: 'muted' }, `${time(r.checked_at)} · ${r.elapsed_ms} ms`));
}

export function connectionsPage(main) {
  const body = el('tbody');
  const msg = el('div');
  main.append(el('div', { class: 'page-head' }, el('h1', {}, 'Connections')), msg,
    el('div', { class: 'table-wrap' }, el('table', { class: 'runs', id: 'connections-table' },
      el('caption', { class: 'sr-only' }, 'Connections of the workflows that serve'),
      el('thead', {}, el('tr', {}, ['Workflow', 'Connection', 'Type', 'Status', 'State', 'Check'].map((h) => el('th', { scope: 'col' }, h)))),
      body)));
  const operate = mayOperate();
  const admin = document.getElementById('who')?.dataset.scope === 'admin';
  get('/api/connections').then((page) => {
    body.replaceChildren(...page.connections.map((c) => {
      const answer = el('div', { class: 'check-answer' });
      let test = null;
      if (operate) {
        test = el('button', { type: 'button', class: 'test', title: `Check ${c.workflow}/${c.name} now` }, 'Test');
        test.addEventListener('click', async () => {
          test.disabled = true;
          answer.replaceChildren(el('span', { class: 'muted' }, 'Checking…'));
          try {
            const r = await post(`/api/connections/${encodeURIComponent(c.workflow)}/${encodeURIComponent(c.name)}/test`);
            answer.replaceChildren(answerOf(r));
          } catch (e) {
            answer.replaceChildren(errorBox(e));
          } finally { test.disabled = false; }
        });
      }
      let connect = null;
      if (admin && c.connectable) {
        connect = el('button', { type: 'button', class: 'connect', title: `Connect ${c.workflow}/${c.name} by OAuth` }, 'Connect');
        connect.addEventListener('click', async () => {
          connect.disabled = true;
          try {
            const a = await post(`/api/connections/${encodeURIComponent(c.workflow)}/${encodeURIComponent(c.name)}/connect`);
            location.assign(a.authorize_url);
          } catch (e) {
            answer.replaceChildren(errorBox(e));
            connect.disabled = false;
          }
        });
      }
      return el('tr', { 'data-connection': `${c.workflow}/${c.name}` },
        el('td', { 'data-label': 'Workflow' }, c.workflow),
        el('td', { 'data-label': 'Connection', class: 'mono' }, c.name),
        el('td', { 'data-label': 'Type' }, c.type),
        el('td', { 'data-label': 'Status' }, el('span', { class: `status c-${c.status.replace(' ', '-')}` }, c.status)),
        el('td', { 'data-label': 'State' }, stateText(c)),
        el('td', { 'data-label': 'Check' }, test, connect ? ' ' : null, connect, answer));
    }));
    if (!page.connections.length) body.append(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'No workflow has connections.')));
  }).catch((e) => msg.replaceChildren(errorBox(e)));
  return null;
}
