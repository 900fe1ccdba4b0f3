// Register a person, with the duplicate check first: likely existing records
// (POST /api/participants/matches) are shown with the reasons, and the coach
// confirms "this is a new person" before the record is created.
import { api, ApiError } from '../lib/api.js';
import { MATCH_REASONS } from '../lib/codes.js';
import { add, fill, h } from '../lib/dom.js';
import { flash } from '../lib/flash.js';
import { displayName, formatDate, formatNhsNumber, fullName } from '../lib/format.js';
import { navigate } from '../lib/router.js';
import { session } from '../lib/session.js';
import { settings } from '../lib/settings.js';
import { loadTeams, teamName } from '../lib/teams.js';
import { apiErrorText, errorSummary, formErrors, loadError } from '../components/errors.js';
import { checkboxesField } from '../components/fields.js';
import { participantForm } from './participantForm.js';

export const COHORT_ALIASES = { veteran: 'cohorts', carer: 'cohorts', long_term_condition: 'cohorts', learning_disability: 'cohorts', assigned_coach: 'assign' };

const sameIdentity = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function matchesPanel(result, confirm) {
  const matches = (result && result.matches) || [];
  const others = (result && result.other_teams) || 0;
  const list = h('ul', { class: 'cb-matches' }, matches.map((m) => h('li', { class: 'cb-match' },
    h('p', { class: 'cb-match__name' },
      h('a', { class: 'nhsuk-link', href: `#/people/${encodeURIComponent(m.id)}`, text: displayName(m) || 'No name' }),
      m.team ? h('span', { class: 'cb-muted', text: ` · ${teamName(m.team)}` }) : null),
    h('p', { class: 'cb-match__meta', text: [
      `Born ${formatDate(m.date_of_birth)}`,
      m.nhs_number ? `NHS number ${formatNhsNumber(m.nhs_number)}` : 'No NHS number',
      m.postcode || null,
      m.status === 'discharged' ? 'Discharged' : null,
    ].filter(Boolean).join(' · ') }),
    h('ul', { class: 'cb-match__reasons', 'aria-label': 'Why this may be the same person' },
      (m.reasons || []).map((r) => h('li', null, h('strong', { class: 'nhsuk-tag nhsuk-tag--orange', text: MATCH_REASONS[r] || r })))))));
  return h('div', { class: 'nhsuk-warning-callout cb-duplicates', id: 'duplicates', tabindex: '-1' },
    h('h2', { class: 'nhsuk-warning-callout__label' },
      h('span', { role: 'text' }, h('span', { class: 'nhsuk-u-visually-hidden', text: 'Important: ' }), 'This person may already be registered')),
    matches.length
      ? h('p', { text: matches.length === 1 ? 'Check this record before registering someone new:' : `Check these ${matches.length} records before registering someone new:` })
      : null,
    matches.length ? list : null,
    others
      ? h('p', { class: 'cb-duplicates__others', text: `${others} possible ${others === 1 ? 'match is' : 'matches are'} in other teams. You cannot see ${others === 1 ? 'it' : 'them'}: ask your manager if you think this person is already known to another team.` })
      : null,
    h('p', { text: 'If it is them, open their record instead. If not, confirm and register.' }),
    confirm.el);
}

export const registerView = {
  title: 'Register a person',
  async render(ctx) {
    const thenCheckIn = ctx.query.get('then') === 'checkin';
    const summary = errorSummary();
    const container = h('div', { class: 'nhsuk-grid-column-two-thirds cb-wide-form' },
      h('a', { class: 'nhsuk-back-link', href: thenCheckIn ? '#/today' : '#/people', text: thenCheckIn ? 'Today' : 'Find a person' }),
      summary.el,
      h('h1', { text: 'Register a person' }));
    add(ctx.main, h('div', { class: 'nhsuk-grid-row' }, container));

    let teams;
    try {
      teams = await loadTeams();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      container.appendChild(loadError(err, 'The list of teams'));
      return {};
    }
    if (!ctx.isCurrent()) return {};

    const user = session.user || {};
    const form = participantForm({ person: null, teams, user });
    const confirm = checkboxesField({
      id: 'confirm_new', legend: 'Confirm', legendClass: 'nhsuk-u-visually-hidden',
      options: [{ value: 'yes', text: 'This is a new person, not one of the records above' }],
    });
    const errors = formErrors(summary, [...form.fields, confirm], COHORT_ALIASES);
    const dupSlot = h('div');
    const button = h('button', { class: 'nhsuk-button', type: 'submit', text: thenCheckIn ? 'Register and check in' : 'Register' });
    const el = h('form', { novalidate: true, 'aria-label': 'Register a person' }, form.el, dupSlot, button);
    let checked = null; // { identity, result } of the last duplicate check

    el.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const { body, consents, problems, identity } = form.collect();
      if (problems.length) {
        errors.show(problems);
        return;
      }
      button.disabled = true;
      try {
        // 1. The duplicate check (again if the name, date of birth, NHS number or postcode changed).
        if (!checked || !sameIdentity(checked.identity, identity)) {
          let result = null;
          try {
            const q = Object.fromEntries(Object.entries(identity).filter(([, v]) => v));
            result = await api.matches(q);
          } catch (err) {
            if (!(err instanceof ApiError)) throw err;
            // 404/405: a server without the check.  Offline: it cannot be done now.
            if (err.status === 400) {
              errors.show([{ field: err.field, text: apiErrorText(err) }]);
              return;
            }
            if (err.status === 401) return;
          }
          checked = { identity, result };
          confirm.setValue([]);
          if (result && ((result.matches && result.matches.length) || result.other_teams)) {
            errors.clear();
            fill(dupSlot, matchesPanel(result, confirm));
            button.textContent = thenCheckIn ? 'Register as a new person and check in' : 'Register as a new person';
            const panel = dupSlot.firstChild;
            panel.focus();
            panel.scrollIntoView({ block: 'start' });
            return;
          }
          fill(dupSlot, );
        } else if (dupSlot.firstChild && !confirm.value().includes('yes')) {
          errors.show([{ field: 'confirm_new', text: 'Confirm this is a new person, or open the existing record' }]);
          return;
        }

        // 2. Register, then record consent (and check in).
        const r = await api.createParticipant(body, { label: `Register ${fullName(body)}`, meta: { name: fullName(body) } });
        errors.clear();
        const p = r.data;
        let queued = r.queued;
        for (const c of consents) {
          const cr = await api.createRecord('consents', { participant_id: p.id, ...c }, `Consent (${c.kind}) for ${fullName(body)}`);
          queued = queued || cr.queued;
        }
        if (thenCheckIn) {
          const venue = settings.venue;
          const ci = { participant_id: p.id, arrived_at: new Date().toISOString() };
          if (venue) ci.venue = venue.id;
          const cr = await api.createRecord('checkins', ci, {
            label: `Check in ${fullName(body)}`,
            meta: { given_name: body.given_name, family_name: body.family_name, preferred_name: body.preferred_name || null, venue_name: venue ? venue.name : null },
          });
          queued = queued || cr.queued;
        }
        flash.set({
          heading: `${fullName(body)} has been registered${thenCheckIn ? ' and checked in' : ''}`,
          text: queued ? 'It is saved on this tablet and will be sent to the server when it can be reached.' : null,
        });
        navigate(thenCheckIn ? '#/today' : `#/people/${encodeURIComponent(p.id)}`, { replace: true });
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        if (err.status === 401) return; // the app sends them to sign in
        const field = err.field === 'id' ? null : err.field;
        errors.show([{ field, text: apiErrorText(err, 'The person could not be registered. Try again.') }]);
      } finally {
        button.disabled = false;
      }
    });

    container.appendChild(el);
    return {};
  },
};
