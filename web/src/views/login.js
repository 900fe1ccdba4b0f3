// Sign in.
import { api, ApiError } from '../lib/api.js';
import { add, h } from '../lib/dom.js';
import { session, signOutDebt } from '../lib/session.js';
import { errorSummary, formErrors } from '../components/errors.js';
import { textField } from '../components/fields.js';

export const loginView = {
  title: 'Sign in',
  render(ctx) {
    const summary = errorSummary();
    const username = textField({
      id: 'username', label: 'Username', autocomplete: 'username', autocapitalize: 'none',
      widthClass: 'nhsuk-u-width-two-thirds',
    });
    const password = textField({
      id: 'password', label: 'Password', type: 'password', autocomplete: 'current-password',
      widthClass: 'nhsuk-u-width-two-thirds',
    });
    const errors = formErrors(summary, [username, password]);
    const button = h('button', { class: 'nhsuk-button', type: 'submit', text: 'Sign in' });

    const form = h('form', { novalidate: true, 'aria-label': 'Sign in' }, username.el, password.el, button);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const u = username.value().trim();
      const p = password.value();
      const problems = [];
      if (!u) problems.push({ field: 'username', text: 'Enter your username' });
      if (!p) problems.push({ field: 'password', text: 'Enter your password' });
      if (problems.length) {
        errors.show(problems);
        return;
      }
      button.disabled = true;
      try {
        const body = await api.login(u, p);
        errors.clear();
        session.set(body);
        ctx.onSignedIn();
      } catch (err) {
        password.setValue('');
        if (err instanceof ApiError && err.status === 401) {
          errors.show([{ field: 'username', text: 'The username or password is not right. Check them and try again.' }]);
        } else if (err instanceof ApiError && err.status === 429) {
          const secs = err.retryAfter;
          errors.show([{
            text: secs != null ? `Too many attempts, try again in ${secs} seconds` : 'Too many attempts, try again later',
          }]);
        } else if (err instanceof ApiError && err.offline) {
          errors.show([{ text: 'You cannot sign in because the coachbox server cannot be reached. Check the tablet is connected to the venue network and try again.' }]);
        } else if (err instanceof ApiError) {
          errors.showApiError(err, 'Sign in did not work. Try again.');
        } else {
          throw err;
        }
      } finally {
        button.disabled = false;
      }
    });

    const reason = ctx.query.get('reason');
    add(ctx.main, 
      h('div', { class: 'nhsuk-grid-row' },
        h('div', { class: 'nhsuk-grid-column-two-thirds' },
          summary.el,
          reason === 'expired'
            ? h('div', { class: 'nhsuk-inset-text' }, h('p', { text: 'Your session has ended. Sign in again to carry on.' }))
            : null,
          reason === 'signed-out'
            ? h('div', { class: 'nhsuk-inset-text' }, h('p', { text: 'You have signed out.' }))
            : null,
          reason === 'idle'
            ? h('div', { class: 'nhsuk-inset-text' }, h('p', { text: 'You were signed out because the tablet was not used for a while.' }))
            : null,
          signOutDebt.owed
            ? h('div', { class: 'nhsuk-inset-text' }, h('p', { text: 'The coachbox server could not be reached when you signed out. This tablet will not open that session again, and ends it on the server as soon as it can reach it.' }))
            : null,
          h('h1', { text: 'Sign in' }),
          h('p', { text: 'Sign in with your Live Well coachbox account.' }),
          form)));
    return { focus: null };
  },
};
