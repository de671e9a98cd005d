// The console in a real Chromium (playwright-core, Debian's /usr/bin/chromium),
// driven by tests/it/console.rs, which starts `reqflow serve` and the vendor.
// Env: BASE (the admin listener), OPERATE and READ (tokens), RUN_ID (a failed
// run), WIDE_RUN (a run of 200 steps and 1,000 attempts), OUT (where
// screenshots, signals and measure.json go). Exits non-zero on a failure.
import { chromium } from 'playwright-core';
import { writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const { BASE, OPERATE, READ, RUN_ID, WIDE_RUN, OUT } = process.env;
mkdirSync(OUT, { recursive: true });
const log = (...a) => console.log('[console.mjs]', ...a);
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  log('ok:', what);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  // A fresh --user-data-dir: launch() makes a new temporary profile itself (and refuses the flag).
});
const external = [];
async function newPage(opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...opts });
  const page = await ctx.newPage();
  page.on('request', (r) => { if (!r.url().startsWith(BASE)) external.push(r.url()); });
  page.on('pageerror', (e) => { log('page error:', e.message); external.push(`pageerror: ${e.message}`); });
  return { ctx, page };
}
const shot = (page, name, fullPage = true) => page.screenshot({ path: join(OUT, `${name}.png`), fullPage });
async function signal(name, answer) {
  writeFileSync(join(OUT, name), '');
  for (let i = 0; !existsSync(join(OUT, answer)); i++) {
    if (i > 600) throw new Error(`no ${answer} after ${name}`);
    await sleep(50);
  }
}
const measures = {};
// page.waitForFunction evaluates a string when it polls, which the console's CSP
// (no 'unsafe-eval') refuses: poll page.evaluate from here instead.
async function until(page, fn, arg, what, timeoutMs = 15000) {
  const t0 = Date.now();
  while (!(await page.evaluate(fn, arg))) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function login(page, token) {
  await page.goto(`${BASE}/console/login`);
  await page.getByLabel('API token').fill(token);
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${BASE}/console/login` && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Log in' }).click(),
  ]);
  await page.waitForLoadState();
  return resp;
}

try {
  // 1. The page without a session: the login form, 401.
  const { ctx, page } = await newPage();
  const first = await page.goto(`${BASE}/`);
  check(first.status() === 401, `GET / without a session answers 401 (got ${first.status()})`);
  check(await page.getByLabel('API token').isVisible(), 'the login form is shown');
  await shot(page, 'login');

  // 2. A wrong token cannot log in.
  const wrong = await login(page, 'rft_thisIsNotAToken000000000000000000000000000');
  check(wrong.status() === 401, `a wrong token is refused (${wrong.status()})`);
  check(await page.locator('#login-error').isVisible(), 'the refusal is shown');
  check((await ctx.cookies()).length === 0, 'no cookie after a refused login');
  await shot(page, 'login-refused');

  // 3. An operate token: the runs list with the failed run.
  await login(page, OPERATE);
  const cookies = await ctx.cookies();
  const session = cookies.find((c) => c.name === 'reqflow_session');
  check(session && session.httpOnly && session.sameSite === 'Strict' && session.path === '/', 'HttpOnly SameSite=Strict session cookie');
  const row = page.locator(`tr[data-run="${RUN_ID}"]`);
  await row.waitFor();
  check((await row.getAttribute('data-status')) === 'failed', 'the run is listed as failed');
  await page.locator('#runs-table tbody tr').first().waitFor();
  await shot(page, 'runs');

  // 4. Open it, read the error.
  await row.getByRole('link').click();
  await page.locator('#run-error').waitFor();
  const errText = await page.locator('#run-error').innerText();
  check(/422/.test(errText), `the run's error is shown: ${errText.replace(/\s+/g, ' ').slice(0, 160)}`);
  check(await page.locator('.tl .bar').count() >= 3, 'a timeline bar per attempt');
  check(await page.locator('#retry').isVisible(), 'an operate session sees the retry button');
  const versionBefore = await page.locator('#run-version').innerText();
  await shot(page, 'run-failed');

  // 5. A cookie alone is not enough for a state change.
  const noCsrf = await page.evaluate(async (id) => (await fetch(`/api/runs/${id}/retry?version=latest`, { method: 'POST' })).status, RUN_ID);
  check(noCsrf === 403, `a cookie-only POST without the CSRF header is refused (${noCsrf})`);

  // 6. The Rust test fixes the workflow file; serve reloads it.
  await signal('need-fix', 'fixed');

  // 7. Retry on the latest version: the answer lists what re-ran; the run succeeds.
  await page.locator('#retry-version').selectOption('latest');
  await page.locator('#retry').click();
  await page.locator('#retry-answer').waitFor();
  const rerun = await page.locator('#rerun').innerText();
  check(rerun.includes('invite') && rerun.includes('table'), `the answer lists the re-run steps: ${rerun}`);
  check((await page.locator('#reused').innerText()).includes('audit'), 'and the reused ones');
  await page.locator('#run-status .s-succeeded').waitFor({ timeout: 20000 });
  check(true, 'the run succeeded after the retry (seen live)');
  const versionAfter = await page.locator('#run-version').innerText();
  check(versionAfter !== versionBefore, `the run moved to the new version (${versionBefore} → ${versionAfter})`);
  await shot(page, 'run');

  // 8. Back to the list: live, it shows the run succeeded without a reload.
  await page.getByRole('link', { name: '← Runs' }).click();
  await page.locator(`tr[data-run="${RUN_ID}"][data-status="succeeded"]`).waitFor();
  check(true, 'the list shows the new status');
  await page.locator('p.live[data-live="sse"]').waitFor();
  check(true, 'the list is live by server-sent events');

  // 8b. Search by run id: that run only.
  await page.locator('#f-q').fill(RUN_ID);
  await page.locator('#f-q').press('Enter');
  await until(page, (id) => {
    const rows = [...document.querySelectorAll('#runs-table tbody tr[data-run]')];
    return rows.length === 1 && rows[0].dataset.run === id;
  }, RUN_ID, 'the search result');
  check(true, 'the search box finds the run by its id');
  await shot(page, 'runs-search');
  await page.locator('#f-q').fill('run_nothing_has_this_id');
  await page.locator('#f-q').press('Enter');
  await page.getByText('No run or event has the id run_nothing_has_this_id').waitFor();
  check(true, 'an unknown id says so');

  // 8c. Workflows: the list, the graph coloured by last status, the versions diff.
  await page.getByRole('link', { name: 'Workflows' }).click();
  await page.locator('#workflows-table tr[data-workflow="screen"] [data-count="succeeded"]').waitFor();
  check(await page.locator('#workflows-table tr[data-workflow="wide"]').count() === 1, 'every workflow is listed');
  await page.locator('#workflows-table tr[data-workflow="hook"] code', { hasText: 'https://' }).waitFor();
  const hookUrl = await page.locator('#workflows-table tr[data-workflow="hook"] code').innerText();
  check(hookUrl === 'https://hooks.example.com/hooks/ats/moved', `a webhook's URL to give the vendor, under --public-url (${hookUrl})`);
  check((await page.locator('tr[data-workflow="screen"] [data-valid]').getAttribute('data-valid')) === 'ok', 'the screen workflow is valid');
  await shot(page, 'workflows');
  await page.locator('#workflows-table a[href="#/workflows/screen"]').click();
  await page.locator('#dag [data-node="invite"]').waitFor();
  check((await page.locator('#dag [data-node="invite"]').getAttribute('data-status')) === 'succeeded', 'the graph colours invite by its last status (succeeded)');
  check(await page.locator('#dag .edges path:not(.arrowhead)').count() === 4, 'the graph draws its four edges (trigger→audit, trigger→table, both→invite)');
  check(await page.locator('#dag [data-node="trigger"]').count() === 1, 'and the trigger');
  await page.locator('#diff').waitFor();
  const diffText = await page.locator('#diff').innerText();
  check(/^\+ .*fixed-agent/m.test(diffText) && /^- .*stale-agent/m.test(diffText), 'the diff of the two versions shows the fix');
  check((await page.locator('#trigger-url').innerText()).includes('not triggered over HTTP'), 'a manual trigger has no URL');
  await shot(page, 'workflow');

  // 8d. A refused change: its diagnostics with the source window.
  await signal('need-break', 'broken');
  await page.reload();
  await page.locator('#wf-refused').waitFor();
  const refusedText = await page.locator('#wf-refused').innerText();
  check(refusedText.includes('ghost') && refusedText.includes('^'), `the refusal shows the source window: ${refusedText.slice(0, 200).replace(/\s+/g, ' ')}`);
  await shot(page, 'workflow-refused');

  // 8e. The overview: the same figures as /metrics.
  await page.getByRole('link', { name: 'Overview' }).click();
  await page.locator('#overview-facts [data-fig="attempts"]').waitFor();
  await until(page, () => document.querySelectorAll('#chart-events path.line').length === 1 && !/M0,0/.test(document.querySelector('#chart-backlog path.line').getAttribute('d')), null, 'the first overview sample');
  const figs = await page.evaluate(async () => {
    const text = await (await fetch('/metrics')).text();
    const m = (name) => Number((text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{} ')) || '').split(' ').pop());
    const shown = (k) => Number(document.querySelector(`[data-fig="${k}"]`).textContent);
    return { attempts: [shown('attempts'), m('reqflow_step_seconds_count')], queued: [shown('queued'), m('reqflow_queue_depth')],
      failed: [Number(document.querySelector('[data-count="failed"]').textContent), m('reqflow_runs{status="failed"}')] };
  });
  check(Object.values(figs).every(([a, b]) => a === b), `the overview shows the figures of /metrics (${JSON.stringify(figs)})`);
  // Activity while it is open: the charts move.
  const started = await page.evaluate(async () => {
    const s = await (await fetch('/console/session')).json();
    const codes = [];
    for (let i = 0; i < 6; i++) codes.push((await fetch('/api/workflows/tick/runs', { method: 'POST', headers: { 'X-Reqflow-CSRF': s.csrf } })).status);
    return codes;
  });
  check(started.every((c) => c === 202), `six manual runs started from the page (${started})`);
  for (let i = 0; !/now [1-9]/.test(await page.locator('[data-now="events"]').innerText()); i++) {
    if (i > 150) throw new Error('the events chart did not move');
    await sleep(100);
  }
  check(true, `the events-per-minute chart shows them (${await page.locator('[data-now="events"]').innerText()})`);
  await sleep(3500);
  await shot(page, 'overview');

  // 8f. A run of 200 steps and 1,000 attempts renders in ≤ 1 s: from its data in the page
  // (the API's answer, timed apart: a debug build of serve on a shared machine) to the last bar painted.
  measures.wide_run_fetch_ms = await page.evaluate(async (id) => {
    const t0 = performance.now();
    await (await fetch(`/api/runs/${id}`)).json();
    return performance.now() - t0;
  }, WIDE_RUN);
  log(`the wide run's JSON alone: ${measures.wide_run_fetch_ms.toFixed(0)} ms`);
  const wide = await page.evaluate(async (id) => {
    const t0 = performance.now();
    performance.clearMarks('reqflow:run-data');
    location.hash = `#/runs/${id}`;
    await new Promise((resolve) => {
      const done = () => document.querySelectorAll('.tl .bar').length >= 1000 && document.querySelectorAll('section.step').length >= 200;
      const tick = () => (done() ? resolve() : requestAnimationFrame(tick));
      tick();
    });
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const end = performance.now();
    const data = performance.getEntriesByName('reqflow:run-data').pop();
    return { total: end - t0, render: end - data.startTime, bars: document.querySelectorAll('.tl .bar').length, steps: document.querySelectorAll('section.step').length };
  }, WIDE_RUN);
  measures.wide_run_render_ms = wide.render;
  measures.wide_run_total_ms = wide.total;
  check(wide.bars === 1000 && wide.steps === 200, `the wide run shows 1,000 attempt bars and 200 steps (${wide.bars}, ${wide.steps})`);
  log(`the wide run: ${wide.total.toFixed(0)} ms from the route change (API answer included), ${wide.render.toFixed(0)} ms to render`);
  check(wide.render <= 1000, `the 200-step, 1,000-attempt run renders in ≤ 1 s (${wide.render.toFixed(0)} ms)`);
  await shot(page, 'run-wide', false);

  // 9. Events.
  await page.getByRole('link', { name: 'Events' }).click();
  await page.locator('#events-table tbody tr[data-event]').first().waitFor();
  const evLink = page.locator(`#events-table a[href="#/runs/${RUN_ID}"]`);
  check(await evLink.count() >= 1, 'the event links to its run');
  await shot(page, 'events');

  // 10. Narrow and dark.
  await page.setViewportSize({ width: 400, height: 800 });
  await page.goto(`${BASE}/#/runs`);
  await page.locator('#runs-table tbody tr[data-run]').first().waitFor();
  await shot(page, 'runs-400');
  await page.goto(`${BASE}/#/runs/${RUN_ID}`);
  await page.locator('#run-status').waitFor();
  await shot(page, 'run-400');
  await page.goto(`${BASE}/#/events`);
  await page.locator('#events-table tbody tr[data-event]').first().waitFor();
  await shot(page, 'events-400');
  await page.goto(`${BASE}/#/workflows`);
  await page.locator('#workflows-table [data-count="succeeded"]').first().waitFor();
  await shot(page, 'workflows-400');
  await page.goto(`${BASE}/#/workflows/screen`);
  await page.locator('#dag').waitFor();
  await shot(page, 'workflow-400');
  await page.goto(`${BASE}/#/overview`);
  await page.locator('#chart-latency').waitFor();
  await shot(page, 'overview-400');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  check(overflow <= 400, `nothing is wider than a 400 px screen (${overflow})`);
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(`${BASE}/#/runs`);
  await page.locator('#runs-table tbody tr[data-run]').first().waitFor();
  await shot(page, 'runs-dark');
  await page.goto(`${BASE}/#/runs/${RUN_ID}`);
  await page.locator('#run-status').waitFor();
  await shot(page, 'run-dark');
  await page.goto(`${BASE}/#/events`);
  await page.locator('#events-table tbody tr[data-event]').first().waitFor();
  await shot(page, 'events-dark');
  await page.goto(`${BASE}/#/workflows`);
  await page.locator('#workflows-table [data-count="succeeded"]').first().waitFor();
  await shot(page, 'workflows-dark');
  await page.goto(`${BASE}/#/workflows/screen`);
  await page.locator('#diff').waitFor();
  await shot(page, 'workflow-dark');
  await page.goto(`${BASE}/#/overview`);
  await page.locator('#chart-latency').waitFor();
  await sleep(3500);
  await shot(page, 'overview-dark');
  await page.emulateMedia({ colorScheme: 'light' });

  // 11. Keyboard: Tab reaches the nav links with a visible focus.
  await page.goto(`${BASE}/#/runs`);
  await page.locator('#runs-table tbody tr[data-run]').first().waitFor();
  await page.locator('.brand').focus();
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => {
    const a = document.activeElement;
    return a ? [a.tagName, a.textContent.trim(), getComputedStyle(a).outlineStyle] : null;
  });
  check(focused && focused[0] === 'A' && focused[1] === 'Overview' && focused[2] !== 'none', `Tab moves through real links, focus visible (${focused})`);
  await page.goto(`${BASE}/#/workflows/screen`);
  await page.locator('#diff-show').waitFor();
  let reached = null;
  await page.locator('#wf-id').click();
  for (let i = 0; i < 60 && reached !== 'diff-show'; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement && document.activeElement.id);
  }
  check(reached === 'diff-show', 'Tab reaches the diff button on the workflow page');
  await page.keyboard.press('Enter');
  await page.locator('#diff').waitFor();

  // 12. Logout: the page and the API answer 401 with the old cookie.
  await Promise.all([page.waitForURL(`${BASE}/console/login`), page.locator('#logout').click()]);
  check(!(await ctx.cookies()).some((c) => c.name === 'reqflow_session'), 'logout clears the cookie');
  await ctx.addCookies([session]);
  const after = await page.goto(`${BASE}/#/runs`);
  check(after.status() === 401, `after logout the page answers 401 with the old cookie (${after.status()})`);
  const api = await ctx.request.get(`${BASE}/api/runs`);
  check(api.status() === 401, `after logout /api/runs answers 401 with the old cookie (${api.status()})`);
  await ctx.close();

  // 13. A read token: no retry button, and the API refuses it anyway.
  const dark = await newPage({ colorScheme: 'dark' });
  const lr = await login(dark.page, READ);
  check(lr.status() === 303, 'a read token logs in');
  await dark.page.goto(`${BASE}/#/runs/${RUN_ID}`);
  await dark.page.locator('#run-status').waitFor();
  check(await dark.page.locator('#retry').count() === 0, 'a read session sees no retry button');
  check(await dark.page.locator('#redeliver').count() === 0, 'nor a redeliver button');
  await shot(dark.page, 'run-read-dark');
  const readPost = await dark.page.evaluate(async (id) => {
    const s = await (await fetch('/console/session')).json();
    const r = await fetch(`/api/runs/${id}/retry?version=latest`, { method: 'POST', headers: { 'X-Reqflow-CSRF': s.csrf } });
    return [s.scope, r.status];
  }, RUN_ID);
  check(readPost[0] === 'read' && readPost[1] === 403, `a read session's POST with the CSRF header gets 403 (${readPost})`);
  await dark.page.context().request.get(`${BASE}/console/login`);
  await dark.page.goto(`${BASE}/console/login`);
  await shot(dark.page, 'login-dark');
  await dark.ctx.close();

  check(external.length === 0, `no request to any other host, no page error (${external.join(', ')})`);
  writeFileSync(join(OUT, 'result.json'), JSON.stringify({ ok: true, ...measures }));
  log('all checks passed');
} catch (e) {
  console.error('[console.mjs] FAILED:', e && e.stack || e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
