// Register a person.
import { api, ApiError } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { flash } from '../lib/flash.js';
import {
  fullName, isPlausiblePostcode, isValidNhsNumber, londonToday, normaliseNhsNumber, normalisePostcode, toYmd,
} from '../lib/format.js';
import { navigate } from '../lib/router.js';
import { session } from '../lib/session.js';
import { loadTeams } from '../lib/teams.js';
import { apiErrorText, errorSummary, formErrors, loadError } from '../components/errors.js';
import { checkDate, dateField, selectField, textField } from '../components/fields.js';

export const registerView = {
  title: 'Register a person',
  async render(ctx) {
    const summary = errorSummary();
    const container = h('div', { class: 'nhsuk-grid-column-two-thirds' },
      h('a', { class: 'nhsuk-back-link', href: '#/people', text: 'Find a person' }),
      summary.el,
      h('h1', { text: 'Register a person' }));
    ctx.main.append(h('div', { class: 'nhsuk-grid-row' }, container));

    let teams;
    try {
      teams = await loadTeams();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      container.appendChild(loadError(err, 'The list of teams'));
      return {};
    }
    if (!ctx.isCurrent()) return {};

    const given = textField({ id: 'given_name', label: 'Given name', autocomplete: 'off', widthClass: 'nhsuk-u-width-two-thirds', spellcheck: false });
    const family = textField({ id: 'family_name', label: 'Family name', autocomplete: 'off', widthClass: 'nhsuk-u-width-two-thirds', spellcheck: false });
    const dob = dateField({ id: 'date_of_birth', legend: 'Date of birth', hint: 'For example, 15 3 1984' });
    const nhs = textField({
      id: 'nhs_number', label: 'NHS number (optional)', hint: '10 digits, for example 943 476 5919',
      inputmode: 'numeric', widthClass: 'nhsuk-input--width-10',
    });
    const postcode = textField({
      id: 'postcode', label: 'Postcode (optional)', widthClass: 'nhsuk-input--width-10', autocapitalize: 'characters',
    });
    const user = session.user || {};
    const team = selectField({
      id: 'team', label: 'Team',
      options: teams.map((t) => ({ value: t.id, text: t.name || t.id })),
      value: teams.some((t) => t.id === user.team) ? user.team : (teams[0] && teams[0].id) || '',
    });
    const fields = [given, family, dob, nhs, postcode, team];
    const errors = formErrors(summary, fields);
    const button = h('button', { class: 'nhsuk-button', type: 'submit', text: 'Register' });
    const form = h('form', { novalidate: true }, fields.map((f) => f.el), button);

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const problems = [];
      const body = {
        given_name: given.value().trim(),
        family_name: family.value().trim(),
      };
      if (!body.given_name) problems.push({ field: 'given_name', text: 'Enter their given name' });
      if (!body.family_name) problems.push({ field: 'family_name', text: 'Enter their family name' });

      const d = checkDate(dob.value(), 'Date of birth');
      if (d.error) {
        problems.push({ field: 'date_of_birth', text: d.error, parts: d.parts });
      } else {
        const ymd = toYmd(d.year, d.month, d.day);
        const t = londonToday();
        if (ymd > toYmd(t.year, t.month, t.day)) {
          problems.push({ field: 'date_of_birth', text: 'Date of birth must be today or in the past' });
        } else if (d.year < 1900) {
          problems.push({ field: 'date_of_birth', text: 'Date of birth must be after 1900', parts: ['year'] });
        } else {
          body.date_of_birth = ymd;
        }
      }

      const n = normaliseNhsNumber(nhs.value());
      if (n) {
        if (!/^\d{10}$/.test(n)) problems.push({ field: 'nhs_number', text: 'NHS number must be 10 digits' });
        else if (!isValidNhsNumber(n)) problems.push({ field: 'nhs_number', text: 'Enter a valid NHS number' });
        else body.nhs_number = n;
      }
      const pc = normalisePostcode(postcode.value());
      if (pc) {
        if (!isPlausiblePostcode(pc)) problems.push({ field: 'postcode', text: 'Enter a real postcode, like M25 1AB' });
        else body.postcode = pc;
      }
      if (!team.value()) problems.push({ field: 'team', text: 'Select a team' });
      else body.team = team.value();

      if (problems.length) {
        errors.show(problems);
        return;
      }

      button.disabled = true;
      try {
        const p = await api.createParticipant(body);
        errors.clear();
        flash.set({ heading: `${fullName(p) || 'The person'} has been registered` });
        navigate(`#/people/${encodeURIComponent(p.id)}`, { replace: true });
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        if (err.status === 401) return; // the app sends them to sign in
        errors.show([{ field: err.field, text: apiErrorText(err, 'The person could not be registered. Try again.') }]);
      } finally {
        button.disabled = false;
      }
    });

    container.appendChild(form);
    return {};
  },
};
