// Settings for this tablet, and signing out.
import { ApiError } from '../lib/api.js';
import { add, h } from '../lib/dom.js';
import { flash } from '../lib/flash.js';
import { outbox } from '../lib/outbox.js';
import { navigate } from '../lib/router.js';
import { session } from '../lib/session.js';
import { settings } from '../lib/settings.js';
import { teamName } from '../lib/teams.js';
import { loadVenues } from '../lib/venues.js';
import { notificationBanner } from '../components/banner.js';
import { loadError } from '../components/errors.js';
import { selectField } from '../components/fields.js';

export const settingsView = {
  title: 'Settings',
  async render(ctx) {
    const message = flash.take();
    const user = session.user || {};
    const out = h('div');
    add(ctx.main, message ? notificationBanner({ heading: message.heading, text: message.text }) : null, h('h1', { text: 'Settings' }), out);
    let venues = [];
    let err = null;
    try {
      venues = await loadVenues();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      err = e;
    }
    if (!ctx.isCurrent()) return {};
    const current = settings.venue;
    const venue = selectField({
      id: 'venue', label: 'Venue this tablet is at',
      hint: 'Used for check-ins and as the place of contacts. It is kept on this tablet only.',
      options: [{ value: '', text: 'No venue (show every venue)' }, ...venues.map((v) => ({ value: v.id, text: `${v.name}${v.team ? ` (${teamName(v.team)})` : ''}` }))],
      value: current ? current.id : '',
    });
    const save = h('button', { class: 'nhsuk-button', type: 'submit', text: 'Save venue' });
    const form = h('form', { novalidate: true, 'aria-label': 'Venue' }, venue.el, save);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = venues.find((x) => x.id === venue.value());
      settings.venue = v ? { id: v.id, name: v.name } : null;
      flash.set({ heading: v ? `This tablet is at ${v.name}` : 'No venue set for this tablet' });
      navigate(location.hash);
    });
    const st = outbox.state;
    add(out, 
      h('h2', { text: 'Venue' }),
      err ? loadError(err, 'The list of venues') : venues.length ? form : h('p', { text: 'No venues have been set up for your team yet.' }),
      h('h2', { text: 'Your account' }),
      h('dl', { class: 'nhsuk-summary-list' },
        h('div', { class: 'nhsuk-summary-list__row' }, h('dt', { class: 'nhsuk-summary-list__key', text: 'Name' }), h('dd', { class: 'nhsuk-summary-list__value', text: user.display_name || '' })),
        h('div', { class: 'nhsuk-summary-list__row' }, h('dt', { class: 'nhsuk-summary-list__key', text: 'Username' }), h('dd', { class: 'nhsuk-summary-list__value', text: user.username || '' })),
        h('div', { class: 'nhsuk-summary-list__row' }, h('dt', { class: 'nhsuk-summary-list__key', text: 'Role' }), h('dd', { class: 'nhsuk-summary-list__value', text: { coach: 'Coach', lead: 'Group lead', manager: 'Manager', admin: 'Administrator' }[user.role] || user.role || '' })),
        h('div', { class: 'nhsuk-summary-list__row' }, h('dt', { class: 'nhsuk-summary-list__key', text: 'Team' }), h('dd', { class: 'nhsuk-summary-list__value', text: teamName(user.team) || 'All teams' }))),
      h('h2', { text: 'Sign out' }),
      h('p', { text: 'Signing out removes the saved copies of records from this tablet.' }),
      st.pending + st.failed ? h('div', { class: 'nhsuk-warning-callout' },
        h('h3', { class: 'nhsuk-warning-callout__label' }, h('span', { role: 'text' }, h('span', { class: 'nhsuk-u-visually-hidden', text: 'Important: ' }), 'Changes not sent yet')),
        h('p', { text: `${st.pending + st.failed} changes you made have not been sent yet. They stay on this tablet and are sent the next time you sign in here.` })) : null,
      h('a', { class: 'nhsuk-button nhsuk-button--secondary', href: '#/sign-out', role: 'button', draggable: 'false', text: 'Sign out' }));
    return {};
  },
};
