// The runs list: newest first, filtered, searched by exact run or event id or by subject
// (`q`), paged with `before`; live while the first page is shown: server-sent
// events from `GET /api/runs/stream` (the page again whenever it changes),
// falling back to polling `GET /api/runs` every 2 s when the stream cannot open.
import { get, el, time, duration, statusBadge, errorBox } from './api.js';

const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
const POLL_MS = 2000;

function summary(err) {
  if (!err) return '';
  if (typeof err === 'string') return err;
  return err.message || err.error || JSON.stringify(err);
}

function ms(a, b) {
  if (!a || !b) return null;
  return new Date(b) - new Date(a);
}

export function runsPage(main, params) {
  const filters = {
    workflow: params.get('workflow') || '',
    status: params.get('status') || '',
    since: params.get('since') || '',
    until: params.get('until') || '',
    q: params.get('q') || '',
  };
  const before = params.get('before') || '';
  let timer = null;
  let stopped = false;
  let seen = new Map(); // run_id -> status, to mark what changed

  const wfSelect = el('select', { id: 'f-workflow', name: 'workflow' }, el('option', { value: '' }, 'All workflows'));
  const stSelect = el('select', { id: 'f-status', name: 'status' }, el('option', { value: '' }, 'Any status'),
    STATUSES.map((s) => el('option', { value: s }, s)));
  const since = el('input', { id: 'f-since', name: 'since', type: 'text', placeholder: '2h or 2025-01-31T09:00Z', value: filters.since });
  const until = el('input', { id: 'f-until', name: 'until', type: 'text', placeholder: 'ISO time or 30m', value: filters.until });
  const search = el('input', { id: 'f-q', name: 'q', type: 'search', placeholder: 'run_…, event id or subject (e.g. an email)', value: filters.q, spellcheck: 'false', autocomplete: 'off' });
  stSelect.value = filters.status;
  const form = el('form', { class: 'filters', role: 'search', onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of [['q', search.value.trim()], ['workflow', wfSelect.value], ['status', stSelect.value], ['since', since.value.trim()], ['until', until.value.trim()]]) {
      if (v) q.set(k, v);
    }
    location.hash = `#/runs${q.toString() ? '?' + q : ''}`;
  } },
    el('div', { class: 'field grow' }, el('label', { for: 'f-q' }, 'Run, event or subject'), search),
    el('div', { class: 'field' }, el('label', { for: 'f-workflow' }, 'Workflow'), wfSelect),
    el('div', { class: 'field' }, el('label', { for: 'f-status' }, 'Status'), stSelect),
    el('div', { class: 'field' }, el('label', { for: 'f-since' }, 'Since'), since),
    el('div', { class: 'field' }, el('label', { for: 'f-until' }, 'Until'), until),
    el('div', { class: 'field actions' }, el('button', { type: 'submit', class: 'primary' }, 'Filter'),
      el('a', { href: '#/runs', class: 'button' }, 'Clear')));

  const live = el('p', { class: 'live muted', 'aria-live': 'polite' });
  const body = el('tbody');
  const table = el('table', { class: 'runs', id: 'runs-table' },
    el('caption', { class: 'sr-only' }, 'Runs, newest first'),
    el('thead', {}, el('tr', {}, ['Run', 'Workflow', 'Status', 'Created', 'Duration', 'Retries', 'Error'].map((h) => el('th', { scope: 'col' }, h)))),
    body);
  const pager = el('nav', { class: 'pager', 'aria-label': 'Pages' });
  const msg = el('div');
  main.append(el('div', { class: 'page-head' }, el('h1', {}, 'Runs'), live), form, msg, el('div', { class: 'table-wrap' }, table), pager);

  get('/api/workflows').then((w) => {
    for (const wf of w.workflows || []) wfSelect.append(el('option', { value: wf.id }, wf.id));
    wfSelect.value = filters.workflow;
  }).catch(() => {});

  function query(extra = {}) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...filters, ...extra })) if (v) q.set(k, v);
    q.set('limit', '50');
    return q;
  }

  function row(r, changed) {
    const wf = r.workflow || {};
    return el('tr', { class: changed ? 'changed' : null, 'data-run': r.run_id, 'data-status': r.status },
      el('td', { 'data-label': 'Run' }, el('a', { href: `#/runs/${encodeURIComponent(r.run_id)}`, class: 'mono' }, r.run_id)),
      el('td', { 'data-label': 'Workflow' }, el('span', {}, wf.workflow_id || '', wf.version ? el('span', { class: 'muted' }, ` v${wf.version}`) : '')),
      el('td', { 'data-label': 'Status' }, statusBadge(r.status)),
      el('td', { 'data-label': 'Created' }, el('time', { datetime: r.created_at }, time(r.created_at))),
      el('td', { 'data-label': 'Duration' }, duration(ms(r.started_at, r.finished_at))),
      el('td', { 'data-label': 'Retries' }, String(r.retries ?? 0)),
      el('td', { 'data-label': 'Error', class: 'err-cell' }, summary(r.error)));
  }

  function show(page, first) {
    msg.replaceChildren();
    const rows = [];
    let fresh = 0;
    for (const r of page.runs) {
      const prev = seen.get(r.run_id);
      const changed = !first && prev !== r.status;
      if (changed) fresh++;
      rows.push(row(r, changed));
    }
    seen = new Map(page.runs.map((r) => [r.run_id, r.status]));
    body.replaceChildren(...rows);
    if (!page.runs.length) {
      body.append(el('tr', {}, el('td', { colspan: 7, class: 'muted' }, filters.q ? `No run or event has the id ${filters.q} (with these filters).` : 'No runs match.')));
    }
    const links = [];
    if (before) links.push(el('a', { href: `#/runs?${query()}`, class: 'button' }, '← Newest'));
    if (page.next_before) links.push(el('a', { href: `#/runs?${query({ before: page.next_before })}`, class: 'button' }, 'Older →'));
    pager.replaceChildren(...links);
    return fresh;
  }

  function liveText(how, fresh) {
    live.dataset.live = how;
    live.textContent = how === 'off'
      ? 'Older page: not live.'
      : `Live (${how === 'sse' ? 'server-sent events' : 'polling every 2 s'}) · ${new Date().toISOString()}${fresh ? ` · ${fresh} new or changed` : ''}`;
  }

  let polled = false;
  async function poll(first) {
    try {
      const page = await get(`/api/runs?${query(before ? { before } : {})}`);
      if (stopped) return;
      liveText(before ? 'off' : 'poll', show(page, first));
    } catch (e) {
      if (!stopped) msg.replaceChildren(errorBox(e));
    }
    if (!stopped && !before) timer = setTimeout(() => poll(false), POLL_MS);
  }

  // Live by server-sent events; polling if the stream cannot open (or the browser has no EventSource).
  let source = null;
  function stream() {
    let got = false;
    try {
      source = new EventSource(`/api/runs/stream?${query()}`);
    } catch {
      source = null;
    }
    if (!source) { poll(true); return; }
    source.addEventListener('runs', (ev) => {
      if (stopped) return;
      const page = JSON.parse(ev.data);
      liveText('sse', show(page, !got));
      got = true;
    });
    source.addEventListener('failure', (ev) => {
      if (!stopped) msg.replaceChildren(errorBox(JSON.parse(ev.data).error || 'the stream failed'));
    });
    source.onerror = () => {
      // Before any message: the stream is not available here; poll instead. After: EventSource reconnects.
      if (!got && !polled && !stopped) {
        polled = true;
        source.close();
        source = null;
        poll(true);
      }
    };
  }
  if (before) poll(true);
  else stream();
  return () => { stopped = true; clearTimeout(timer); if (source) source.close(); };
}
