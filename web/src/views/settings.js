// Settings for this tablet, and signing out.
import { api, ApiError } from '../lib/api.js';
import { add, h } from '../lib/dom.js';
import { flash } from '../lib/flash.js';
import { outbox } from '../lib/outbox.js';
import { navigate } from '../lib/router.js';
import { session } from '../lib/session.js';
import { settings } from '../lib/settings.js';
import { teamName } from '../lib/teams.js';
import { loadVenues } from '../lib/venues.js';
import { notificationBanner } from '../components/banner.js';
import { errorSummary, formErrors, loadError } from '../components/errors.js';
import { selectField, textField } from '../components/fields.js';

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
      h('h2', { text: 'Change your password' }),
      passwordForm(),
      h('h2', { text: 'Sign out' }),
      h('p', { text: 'Signing out removes the saved copies of records from this tablet.' }),
      st.pending + st.failed ? h('div', { class: 'nhsuk-warning-callout' },
        h('h3', { class: 'nhsuk-warning-callout__label' }, h('span', { role: 'text' }, h('span', { class: 'nhsuk-u-visually-hidden', text: 'Important: ' }), 'Changes not sent yet')),
        h('p', { text: `${st.pending + st.failed} changes you made have not been sent yet. They stay on this tablet and are sent the next time you sign in here.` })) : null,
      h('a', { class: 'nhsuk-button nhsuk-button--secondary', href: '#/sign-out', role: 'button', draggable: 'false', text: 'Sign out' }));
    return {};
  },
};

// Change the signed-in user's password (sent now, never queued: it needs the
// server).  The server ends the account's other sessions; this one stays.
function passwordForm() {
  const summary = errorSummary();
  const current = textField({ id: 'current_password', label: 'Current password', type: 'password', autocomplete: 'current-password', widthClass: 'nhsuk-u-width-two-thirds' });
  const next = textField({ id: 'new_password', label: 'New password', hint: 'At least 10 characters. A few unrelated words make a good one.', type: 'password', autocomplete: 'new-password', widthClass: 'nhsuk-u-width-two-thirds' });
  const again = textField({ id: 'confirm_password', label: 'New password again', type: 'password', autocomplete: 'new-password', widthClass: 'nhsuk-u-width-two-thirds' });
  const errors = formErrors(summary, [current, next, again]);
  const button = h('button', { class: 'nhsuk-button nhsuk-button--secondary', type: 'submit', text: 'Change password' });
  const form = h('form', { novalidate: true, 'aria-label': 'Change your password' }, summary.el, current.el, next.el, again.el, button);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const c = current.value();
    const n = next.value();
    const problems = [];
    if (!c) problems.push({ field: 'current_password', text: 'Enter your current password' });
    if (n.length < 10) problems.push({ field: 'new_password', text: 'Enter a new password of at least 10 characters' });
    else if (n === c) problems.push({ field: 'new_password', text: 'The new password must be different from the current one' });
    else if (again.value() !== n) problems.push({ field: 'confirm_password', text: 'The two new passwords are not the same' });
    if (problems.length) {
      errors.show(problems);
      return;
    }
    button.disabled = true;
    try {
      const res = await api.changePassword(c, n);
      const ended = res && res.sessions_ended ? res.sessions_ended : 0;
      flash.set({
        heading: 'Your password has been changed',
        text: ended ? `You have been signed out on ${ended} other ${ended === 1 ? 'device' : 'devices'}.` : '',
      });
      navigate(location.hash);
    } catch (err) {
      current.setValue('');
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 422) errors.show([{ field: 'current_password', text: 'Your current password is not right' }]);
      else if (err.status === 429) errors.show([{ field: 'current_password', text: err.retryAfter != null ? `Too many attempts, try again in ${err.retryAfter} seconds` : 'Too many attempts, try again later' }]);
      else if (err.offline) errors.show([{ text: 'Your password cannot be changed while the coachbox server cannot be reached.' }]);
      else if (err.code === 'accounts_on_central') errors.show([{ text: 'Accounts are managed on the central Live Well server. Change your password there; the new one reaches this venue at its next sync.' }]);
      else errors.showApiError(err, 'Your password was not changed. Try again.');
    } finally {
      button.disabled = false;
      next.setValue('');
      again.setValue('');
    }
  });
  return form;
}
