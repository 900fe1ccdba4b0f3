// Change a person's details (PATCH with only what changed).
import { api, ApiError } from '../lib/api.js';
import { add, h } from '../lib/dom.js';
import { flash } from '../lib/flash.js';
import { fullName } from '../lib/format.js';
import { navigate } from '../lib/router.js';
import { session } from '../lib/session.js';
import { loadTeams } from '../lib/teams.js';
import { apiErrorText, errorSummary, formErrors, loadError } from '../components/errors.js';
import { participantForm } from './participantForm.js';
import { COHORT_ALIASES } from './register.js';
import { loadPerson } from './personData.js';

export const editPersonView = {
  title: 'Change details',
  async render(ctx) {
    const id = ctx.params.id;
    const back = `#/people/${encodeURIComponent(id)}`;
    const summary = errorSummary();
    const container = h('div', { class: 'nhsuk-grid-column-two-thirds cb-wide-form' },
      h('a', { class: 'nhsuk-back-link', href: back, text: 'Back to their record' }), summary.el);
    add(ctx.main, h('div', { class: 'nhsuk-grid-row' }, container));
    let p;
    let teams;
    try {
      [p, teams] = await Promise.all([loadPerson(id, ctx.signal), loadTeams()]);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      add(container, h('h1', { text: 'Change details' }), loadError(err, 'Their record'));
      return {};
    }
    if (!ctx.isCurrent()) return {};
    ctx.setTitle('Change details'); // names stay out of the browser's history
    const form = participantForm({ person: p, teams, user: session.user || {} });
    const errors = formErrors(summary, form.fields, COHORT_ALIASES);
    const button = h('button', { class: 'nhsuk-button', type: 'submit', text: 'Save changes' });
    const el = h('form', { novalidate: true, 'aria-label': 'Change details' }, form.el, button,
      h('p', null, h('a', { class: 'nhsuk-link', href: back, text: 'Cancel' })));
    el.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const { body, problems } = form.collect();
      if (problems.length) {
        errors.show(problems);
        return;
      }
      if (!Object.keys(body).length) {
        navigate(back, { replace: true });
        return;
      }
      button.disabled = true;
      try {
        const r = await api.updateParticipant(id, body, `Change details of ${fullName(p)}`);
        flash.set({
          heading: 'Details saved',
          text: r.queued ? 'Saved on this tablet; it will be sent when the server can be reached.' : null,
        });
        navigate(back, { replace: true });
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        if (err.status === 401) return;
        errors.show([{ field: err.field, text: apiErrorText(err, 'The changes could not be saved. Try again.') }]);
      } finally {
        button.disabled = false;
      }
    });
    add(container, h('h1', null, h('span', { class: 'nhsuk-caption-l', text: fullName(p) }), 'Change details'), el);
    return {};
  },
};
