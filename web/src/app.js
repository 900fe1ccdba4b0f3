// Live Well coachbox: the coach's app.  Entry point.
import { api, ApiError, setUnauthorizedHandler } from './lib/api.js';
import { clear, focusEl } from './lib/dom.js';
import { addRoute, href, navigate, startRouter } from './lib/router.js';
import { session, signOutDebt } from './lib/session.js';
import { loadTeams, resetTeams } from './lib/teams.js';
import { outbox } from './lib/outbox.js';
import { resetVenues } from './lib/venues.js';
import { focusField } from './components/errors.js';
import { createLayout, homeFor, SERVICE_NAME } from './components/layout.js';
import { caseloadView } from './views/caseload.js';
import { caseloadsView, coachCaseloadView, teamCaseloadView } from './views/caseloads.js';
import { conflictsView } from './views/conflicts.js';
import { figurePeopleView } from './views/figurePeople.js';
import { outcomesView } from './views/outcomes.js';
import { reachView } from './views/reach.js';
import { returnsView } from './views/returns.js';
import { sitesView } from './views/sites.js';
import { contactView } from './views/contact.js';
import { editPersonView } from './views/editPerson.js';
import { groupsView, newProgrammeView, programmeView, registerSessionView } from './views/groups.js';
import { loginView } from './views/login.js';
import { notFoundView } from './views/notFound.js';
import { forgetSearches, peopleView } from './views/people.js';
import { personView } from './views/person.js';
import { registerView } from './views/register.js';
import { settingsView } from './views/settings.js';
import { signOutView } from './views/signOut.js';
import { syncView } from './views/sync.js';
import { todayView } from './views/today.js';

document.body.classList.add('js-enabled', 'nhsuk-frontend-supported');

addRoute(/^\/login$/, loginView, { public: true });
addRoute(/^\/today$/, todayView);
addRoute(/^\/people$/, peopleView);
addRoute(/^\/people\/new$/, registerView);
addRoute(/^\/people\/([^/]+)$/, personView, { keys: ['id'] });
addRoute(/^\/people\/([^/]+)\/contact$/, contactView, { keys: ['id'] });
addRoute(/^\/people\/([^/]+)\/edit$/, editPersonView, { keys: ['id'] });
addRoute(/^\/caseload$/, caseloadView);
addRoute(/^\/groups$/, groupsView);
addRoute(/^\/groups\/new$/, newProgrammeView);
addRoute(/^\/groups\/([^/]+)$/, programmeView, { keys: ['id'] });
addRoute(/^\/sessions\/([^/]+)\/register$/, registerSessionView, { keys: ['id'] });
addRoute(/^\/sync$/, syncView);
addRoute(/^\/settings$/, settingsView);
addRoute(/^\/sign-out$/, signOutView);
// Managers
const M = { manager: true };
addRoute(/^\/outcomes$/, outcomesView, M);
addRoute(/^\/outcomes\/people$/, figurePeopleView, M);
addRoute(/^\/reach$/, reachView, M);
addRoute(/^\/caseloads$/, caseloadsView, M);
addRoute(/^\/caseloads\/coach\/([^/]+)$/, coachCaseloadView, { ...M, keys: ['id'] });
addRoute(/^\/caseloads\/team\/([^/]+)$/, teamCaseloadView, { ...M, keys: ['id'] });
addRoute(/^\/sites$/, sitesView, M);
addRoute(/^\/conflicts$/, conflictsView, M);
addRoute(/^\/returns$/, returnsView, M);
addRoute(/^$/, notFoundView, { notFound: true, public: true });

let returnTo = null; // where to go after signing in

async function clearSavedData() {
  forgetSearches();
  // The service worker keeps the last copy of API reads for offline use;
  // it must not outlive the session that fetched it.
  try {
    if (navigator.serviceWorker && navigator.serviceWorker.controller) {
      navigator.serviceWorker.controller.postMessage({ type: 'clear-api-cache' });
    }
    if (window.caches) {
      const keys = await caches.keys();
      await Promise.all(keys.filter((k) => k.startsWith('cb-api')).map((k) => caches.delete(k)));
    }
  } catch {
    /* best effort */
  }
}

/**
 * Sign out now (reason: 'signed-out', or 'idle' when the tablet was left).
 * Changes not sent yet stay in the outbox for this account's next sign-in.  If
 * the server cannot be told, the session it still holds is owed an end
 * (signOutDebt): the app will not resume it, and ends it as soon as the server
 * answers.
 */
export async function signOut(reason = 'signed-out') {
  try {
    await api.logout();
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) {
      signOutDebt.set();
      payDebtSoon();
    }
  }
  session.clear();
  resetTeams();
  resetVenues();
  await clearSavedData();
  navigate(href('/login', { reason }));
}

// A sign-out the server has not heard of: try again every 30 s and whenever
// the network comes back, until it has ended that session.
let debtTimer = null;
function payDebtSoon() {
  if (debtTimer || !signOutDebt.owed) return;
  debtTimer = setInterval(async () => {
    if (!signOutDebt.owed || (await signOutDebt.pay())) {
      clearInterval(debtTimer);
      debtTimer = null;
    }
  }, 30000);
}
window.addEventListener('online', () => {
  if (signOutDebt.owed) signOutDebt.pay();
});

// A tablet left signed in: after the server's idle timeout with no touch, key
// or click, the screen is cleared and the coach signed out, as the server
// ends the session then too (the screens' automatic refreshes do not count).
// The last input is shared by the tabs (localStorage): a tab left in the
// background does not sign out a session another tab is using.
const INPUT_KEY = 'cb-last-input';
let lastInput = Date.now();
let inputShared = 0;
function sharedInput() {
  try {
    return Number(localStorage.getItem(INPUT_KEY)) || 0;
  } catch {
    return 0;
  }
}
for (const type of ['pointerdown', 'keydown', 'touchstart', 'wheel']) {
  window.addEventListener(type, () => {
    lastInput = Date.now();
    if (lastInput - inputShared > 5000) {
      inputShared = lastInput;
      try {
        localStorage.setItem(INPUT_KEY, String(lastInput));
      } catch {
        /* this tab alone */
      }
    }
  }, { capture: true, passive: true });
}
setInterval(() => {
  if (session.user && Date.now() - Math.max(lastInput, sharedInput()) > session.idleMs) {
    lastInput = Date.now();
    signOut('idle');
  }
}, 15000);
signOutView.signOut = signOut;

// The header's button: with changes waiting, say so first.
async function askSignOut() {
  const s = outbox.state;
  if (s.pending + s.failed > 0) navigate('#/sign-out');
  else await signOut();
}

const layout = createLayout(document.getElementById('app'), { onSignOut: askSignOut });

// Keep a saved copy of what every screen needs (the service worker stores
// GET answers), so the app still starts and works with no connection.
function warmCache() {
  if (!session.user || !navigator.serviceWorker || !navigator.serviceWorker.controller) return;
  for (const url of ['/api/me', '/api/teams', '/api/venues', '/api/measures/instruments']) {
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json', 'X-CB-Background': '1' } }).catch(() => {});
  }
}

session.subscribe((user) => {
  layout.setUser(user);
  outbox.setUser(user ? user.id : null);
  if (user) {
    loadTeams().then(() => layout.setUser(session.user), () => {});
    // Central or a field server?  Central-only screens (sites) appear once known.
    if (user.role === 'manager') api.syncStatus().then((s) => layout.setServerRole(s && s.role), () => {});
    setTimeout(warmCache, 500); // after the service worker has dropped the last session's copies
  }
});

setUnauthorizedHandler(() => {
  if (!session.user) return;
  const here = location.hash;
  session.clear();
  resetTeams();
  resetVenues();
  clearSavedData();
  if (!here.startsWith('#/login')) returnTo = here;
  navigate(href('/login', { reason: 'expired' }));
});

// In-page links (#maincontent, #field-id) must not be taken as routes.
document.addEventListener('click', (ev) => {
  const a = ev.target instanceof Element ? ev.target.closest('a[href^="#"]') : null;
  if (!a) return;
  const target = a.getAttribute('href');
  if (target.startsWith('#/') || target === '#') return;
  ev.preventDefault();
  const id = decodeURIComponent(target.slice(1));
  const el = document.getElementById(id);
  if (!el) return;
  if (/^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) focusField(id);
  else focusEl(el);
});

function setTitle(t) {
  document.title = t ? `${t} – ${SERVICE_NAME}` : SERVICE_NAME;
}

async function boot() {
  const main = layout.main;
  main.setAttribute('aria-busy', 'true');
  await session.restore();
  payDebtSoon();
  main.removeAttribute('aria-busy');

  await startRouter({
    guard(route, loc) {
      const home = homeFor(session.user);
      if (loc.path === '/' || loc.path === '') return home;
      if (route && !route.public && !session.user) {
        returnTo = location.hash;
        return '#/login';
      }
      if (route && route.view === loginView && session.user) return home;
      if (route && route.manager && session.user.role !== 'manager') return home;
      return null;
    },
    beforeRender(ctx) {
      clear(main);
      ctx.focusBefore = document.activeElement;
      ctx.main = main;
      ctx.setTitle = setTitle;
      ctx.onSignedIn = () => {
        const to = returnTo && !returnTo.startsWith('#/login') ? returnTo : homeFor(session.user);
        returnTo = null;
        navigate(to, { replace: true });
      };
      setTitle(ctx.route ? ctx.route.view.title : '');
      layout.setPath(ctx.path);
    },
    afterRender(ctx, result, initial) {
      // If the person has already moved on (say, started typing in the
      // search box while results loaded), leave their focus alone.
      const now = document.activeElement;
      if (now && now !== document.body && now !== ctx.focusBefore) return;
      if (result.focus) {
        focusEl(result.focus);
      } else if (!initial) {
        focusEl(main.querySelector('h1'), { scroll: false });
        window.scrollTo(0, 0);
      }
    },
  });
}

function registerServiceWorker() {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return;
  // Only an update replacing a worker that already ran this page is news.
  const hadController = !!navigator.serviceWorker.controller;
  navigator.serviceWorker.addEventListener('controllerchange', warmCache);
  navigator.serviceWorker.register('/sw.js', { scope: '/' }).then((reg) => {
    reg.addEventListener('updatefound', () => {
      const sw = reg.installing;
      if (!sw) return;
      sw.addEventListener('statechange', () => {
        // A newer app shell is installed while this page runs an older one.
        if (sw.state === 'activated' && hadController) {
          layout.showUpdate(() => location.reload());
        }
      });
    });
    // Check for a new version when the tablet comes back online.
    window.addEventListener('online', () => reg.update().catch(() => {}));
  }).catch(() => {
    /* the app still works online without offline start */
  });
}

boot().catch((err) => {
  // Last resort: show something rather than a blank page.
  const main = layout.main;
  clear(main);
  const p = document.createElement('p');
  p.textContent = 'Sorry, coachbox could not start. Reload the page to try again.';
  main.appendChild(p);
  console.error(err);
});
registerServiceWorker();
