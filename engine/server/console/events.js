// Events: every stored event with its outcome and reason, linking to its run.
import { get, el, time, errorBox } from './api.js';

const OUTCOMES = ['accepted', 'ignored', 'duplicate', 'invalid'];

export function eventsPage(main, params) {
  const outcome = params.get('outcome') || '';
  const workflow = params.get('workflow') || '';
  const before = params.get('before') || '';
  const oc = el('select', { id: 'e-outcome', name: 'outcome' }, el('option', { value: '' }, 'Any outcome'),
    OUTCOMES.map((o) => el('option', { value: o }, o)));
  oc.value = outcome;
  const wf = el('select', { id: 'e-workflow', name: 'workflow' }, el('option', { value: '' }, 'All workflows'));
  const form = el('form', { class: 'filters', role: 'search', onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (oc.value) q.set('outcome', oc.value);
    if (wf.value) q.set('workflow', wf.value);
    location.hash = `#/events${q.toString() ? '?' + q : ''}`;
  } },
    el('div', { class: 'field' }, el('label', { for: 'e-outcome' }, 'Outcome'), oc),
    el('div', { class: 'field' }, el('label', { for: 'e-workflow' }, 'Workflow'), wf),
    el('div', { class: 'field actions' }, el('button', { type: 'submit', class: 'primary' }, 'Filter'),
      el('a', { href: '#/events', class: 'button' }, 'Clear')));
  const body = el('tbody');
  const pager = el('nav', { class: 'pager', 'aria-label': 'Pages' });
  const msg = el('div');
  main.append(el('div', { class: 'page-head' }, el('h1', {}, 'Events')), form, msg,
    el('div', { class: 'table-wrap' }, el('table', { class: 'runs', id: 'events-table' },
      el('caption', { class: 'sr-only' }, 'Events, newest first'),
      el('thead', {}, el('tr', {}, ['Event', 'Workflow', 'Trigger', 'Outcome', 'Reason', 'Received', 'Run'].map((h) => el('th', { scope: 'col' }, h)))),
      body)), pager);

  get('/api/workflows').then((w) => {
    for (const x of w.workflows || []) wf.append(el('option', { value: x.id }, x.id));
    wf.value = workflow;
  }).catch(() => {});

  const q = new URLSearchParams();
  if (outcome) q.set('outcome', outcome);
  if (workflow) q.set('workflow', workflow);
  q.set('limit', '50');
  if (before) q.set('before', before);
  get(`/api/events?${q}`).then((page) => {
    body.replaceChildren(...page.events.map((e) => el('tr', { 'data-event': e.event_id, 'data-outcome': e.outcome },
      el('td', { 'data-label': 'Event', class: 'mono' }, e.event_id),
      el('td', { 'data-label': 'Workflow' }, e.workflow_id || e.workflow || ''),
      el('td', { 'data-label': 'Trigger' }, e.trigger || ''),
      el('td', { 'data-label': 'Outcome' }, el('span', { class: `status o-${e.outcome}` }, e.outcome)),
      el('td', { 'data-label': 'Reason' }, e.reason || ''),
      el('td', { 'data-label': 'Received' }, time(e.received_at)),
      el('td', { 'data-label': 'Run' }, e.run_id ? el('a', { href: `#/runs/${encodeURIComponent(e.run_id)}`, class: 'mono' }, e.run_id) : '—'))));
    if (!page.events.length) body.append(el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'No events match.')));
    if (page.next_before) {
      const n = new URLSearchParams(q); n.set('before', page.next_before); n.delete('limit');
      pager.replaceChildren(el('a', { href: `#/events?${n}`, class: 'button' }, 'Older →'));
    }
  }).catch((e) => msg.replaceChildren(errorBox(e)));
  return null;
}
