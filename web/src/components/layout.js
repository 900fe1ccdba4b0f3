// The page frame: skip link, NHS header (service name, account, changes
// waiting, navigation), the connection status bar, and <main>.

import { connectivity } from '../lib/connectivity.js';
import { add, clear, h } from '../lib/dom.js';
import { formatTime } from '../lib/format.js';
import { outbox } from '../lib/outbox.js';
import { teamName } from '../lib/teams.js';

export const SERVICE_NAME = 'Live Well coachbox';

const NAV = [
  { href: '#/today', text: 'Today', match: (p) => p === '/today' },
  { href: '#/people', text: 'People', match: (p) => p.startsWith('/people') },
  { href: '#/caseload', text: 'Caseload', match: (p) => p === '/caseload' },
  { href: '#/groups', text: 'Groups', match: (p) => p.startsWith('/groups') || p.startsWith('/sessions') },
  { href: '#/sync', text: 'Sync', match: (p) => p === '/sync' },
  { href: '#/settings', text: 'Settings', match: (p) => p === '/settings' || p === '/sign-out' },
];

// Managers review the whole service (on central): no drop-in queue or tablet settings.
const MANAGER_NAV = [
  { href: '#/outcomes', text: 'Outcomes', match: (p) => p.startsWith('/outcomes') },
  { href: '#/reach', text: 'Reach', match: (p) => p === '/reach' },
  { href: '#/caseloads', text: 'Caseloads', match: (p) => p.startsWith('/caseloads') },
  { href: '#/people', text: 'People', match: (p) => p.startsWith('/people') },
  { href: '#/sites', text: 'Sites', match: (p) => p === '/sites', central: true },
  { href: '#/conflicts', text: 'Conflicts', match: (p) => p === '/conflicts' },
  { href: '#/returns', text: 'Returns', match: (p) => p === '/returns' },
];

/** The first screen for a user. */
export const homeFor = (user) => (user && user.role === 'manager' ? '#/outcomes' : '#/today');

function userIcon() {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('class', 'nhsuk-icon nhsuk-icon--user');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '16');
  svg.setAttribute('height', '16');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(NS, 'path');
  path.setAttribute('d', 'M12 1a11 11 0 1 1 0 22 11 11 0 0 1 0-22Zm0 2a9 9 0 0 0-5 16.5V18a4 4 0 0 1 4-4h2a4 4 0 0 1 4 4v1.5A9 9 0 0 0 12 3Zm0 3a3.5 3.5 0 1 1-3.5 3.5A3.4 3.4 0 0 1 12 6Z');
  svg.appendChild(path);
  return svg;
}

export function createLayout(root, { onSignOut }) {
  const account = h('nav', { class: 'nhsuk-header__account', 'aria-label': 'Account', hidden: true });
  const navList = h('ul', { class: 'nhsuk-header__navigation-list cb-nav-list' });
  const nav = h('nav', { class: 'nhsuk-header__navigation', 'aria-label': 'Menu', hidden: true },
    h('div', { class: 'nhsuk-header__navigation-container nhsuk-width-container' }, navList));
  // Always visible while signed in: how many changes are waiting on this tablet.
  const badgeCount = h('span', { class: 'cb-badge__count', id: 'outbox-count', text: '0' });
  const badgeWord = h('span', { class: 'cb-badge__word', text: 'changes ' });
  const badgeText = h('span', { class: 'cb-badge__text', text: 'waiting' });
  const badgeMore = h('span', { class: 'nhsuk-u-visually-hidden', text: ' to be sent' });
  const badge = h('a', { class: 'cb-badge', href: '#/sync', id: 'outbox-badge', hidden: true },
    badgeCount, h('span', null, badgeWord, badgeText, badgeMore));
  const home = h('a', { class: 'nhsuk-header__service-name', href: '#/today', text: SERVICE_NAME });
  const header = h('header', { class: 'nhsuk-header cb-header', role: 'banner' },
    h('div', { class: 'nhsuk-header__container nhsuk-width-container cb-header__container' },
      h('div', { class: 'nhsuk-header__service' }, home),
      badge,
      account),
    nav);

  const status = h('div', { class: 'cb-status', role: 'status', 'aria-live': 'polite' });
  const main = h('main', { class: 'nhsuk-main-wrapper cb-main', id: 'maincontent' });
  const skip = h('a', { class: 'nhsuk-skip-link', href: '#maincontent', text: 'Skip to main content' });

  clear(root);
  add(root, skip, header, h('div', { class: 'nhsuk-width-container' }, status, main));

  let currentPath = '';
  let signOutButton = null;
  let items = NAV;
  let central = false;

  function renderNav() {
    clear(navList);
    for (const item of items) {
      if (item.central && !central) continue;
      const current = item.match(currentPath);
      const link = h('a', {
        class: 'nhsuk-header__navigation-link', href: item.href,
        'aria-current': current ? 'page' : null,
      }, current ? h('strong', { class: 'nhsuk-header__navigation-item-current-fallback', text: item.text }) : item.text);
      navList.appendChild(h('li', {
        class: ['nhsuk-header__navigation-item', current && 'nhsuk-header__navigation-item--current'],
      }, link));
    }
  }

  function setUser(user) {
    clear(account);
    account.hidden = !user;
    nav.hidden = !user;
    badge.hidden = !user;
    if (!user) return;
    items = user.role === 'manager' ? MANAGER_NAV : NAV;
    home.setAttribute('href', homeFor(user));
    const team = teamName(user.team);
    signOutButton = h('button', {
      class: 'nhsuk-header__account-button', type: 'button', text: 'Sign out',
      onclick: async () => {
        signOutButton.disabled = true;
        try {
          await onSignOut();
        } finally {
          if (signOutButton) signOutButton.disabled = false;
        }
      },
    });
    account.appendChild(h('ul', { class: 'nhsuk-header__account-list' },
      h('li', { class: 'nhsuk-header__account-item cb-account-user' },
        userIcon(),
        h('span', null, vhText('Signed in as '), user.display_name || user.username),
        team ? h('span', { class: 'cb-account-team' }, vhText(', team: '), team) : null),
      h('li', { class: 'nhsuk-header__account-item' }, signOutButton)));
    renderNav();
  }

  function setPath(path) {
    currentPath = path;
    renderNav();
  }

  /** "central" or "field", once known: central-only screens appear in the menu. */
  function setServerRole(role) {
    central = role === 'central';
    renderNav();
  }

  function renderBadge(s) {
    const n = s.pending + s.failed;
    badgeCount.textContent = String(n);
    badgeWord.textContent = n === 1 ? 'change ' : 'changes ';
    badge.classList.toggle('cb-badge--waiting', s.pending > 0);
    badge.classList.toggle('cb-badge--failed', s.failed > 0);
    badge.classList.toggle('cb-badge--none', n === 0);
    badgeMore.textContent = ` to be sent${s.failed ? `, ${s.failed} need attention` : ''}`;
  }
  outbox.subscribe(renderBadge);

  // Connection status: shown only when something is wrong.
  let updateNotice = null;
  function renderStatus(s) {
    clear(status);
    if (!s.online) {
      const since = s.staleSince ? ` Showing information saved at ${formatTime(s.staleSince)}.` : '';
      status.appendChild(h('p', { class: 'cb-status__offline' },
        h('strong', { text: 'Offline. ' }),
        `The coachbox server cannot be reached.${since} What you save is kept on this tablet and sent when the server can be reached again.`));
    }
    if (updateNotice) status.appendChild(updateNotice);
  }
  connectivity.subscribe(renderStatus);

  return {
    main,
    setUser,
    setPath,
    setServerRole,
    /** A new version of the app is ready; offer to reload. */
    showUpdate(onReload) {
      updateNotice = h('p', { class: 'cb-status__update' },
        'A new version of coachbox is ready. ',
        h('button', { class: 'nhsuk-button nhsuk-button--secondary nhsuk-button--small cb-inline-button', type: 'button', text: 'Reload', onclick: onReload }));
      renderStatus(connectivity.state);
    },
  };
}

function vhText(text) {
  return h('span', { class: 'nhsuk-u-visually-hidden', text });
}
