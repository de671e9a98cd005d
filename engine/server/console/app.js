// The console's router: hash routes #/overview, #/runs, #/runs/{id}, #/events,
// #/workflows, #/workflows/{id}, #/connections.
import { loadSession, logout, el, errorBox } from './api.js';
import { runsPage } from './runs.js';
import { runPage } from './run.js';
import { eventsPage } from './events.js';
import { workflowsPage, workflowPage } from './workflows.js';
import { overviewPage, startSampling } from './overview.js';
import { connectionsPage } from './connections.js';

const main = document.getElementById('main');
let stop = null; // the current page's cleanup (its polling timer)

function route() {
  if (stop) { stop(); stop = null; }
  const hash = location.hash || '#/runs';
  const [path, query] = hash.slice(1).split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean);
  let section = parts[0] || 'runs';
  document.querySelectorAll('[data-nav]').forEach((a) => {
    if (a.dataset.nav === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  main.replaceChildren();
  try {
    if (section === 'runs' && parts[1]) stop = runPage(main, decodeURIComponent(parts[1]));
    else if (section === 'events') stop = eventsPage(main, params);
    else if (section === 'workflows' && parts[1]) stop = workflowPage(main, decodeURIComponent(parts[1]));
    else if (section === 'workflows') stop = workflowsPage(main);
    else if (section === 'overview') stop = overviewPage(main);
    else if (section === 'connections') stop = connectionsPage(main);
    else stop = runsPage(main, params);
  } catch (e) {
    main.append(errorBox(e));
  }
}

async function start() {
  let s;
  try { s = await loadSession(); } catch (e) { main.replaceChildren(errorBox(e)); return; }
  const who = document.getElementById('who');
  who.textContent = `${s.actor.replace(/^token:/, '')} · ${s.scope}`;
  who.dataset.scope = s.scope;
  document.getElementById('logout').addEventListener('click', () => logout());
  window.addEventListener('hashchange', route);
  route();
  startSampling();
}

start();
export { el };
