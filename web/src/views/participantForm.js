// The fields of a participant, for registering and for editing details.
import { h } from '../lib/dom.js';
import {
  COHORTS, CONSENT_KINDS, CONTACT_PREFS, EMPLOYMENT, ETHNIC_GROUPS, MAIN_BARRIERS, REFERRAL_SOURCES, SEX, TOPICS,
} from '../lib/codes.js';
import {
  isPlausiblePostcode, isValidNhsNumber, normaliseNhsNumber, normalisePostcode, todayYmd,
} from '../lib/format.js';
import {
  checkboxesField, dateField, dateValue, radiosField, selectField, setDate, textField,
} from '../components/fields.js';

const section = (title, ...children) =>
  h('div', { class: 'cb-form-section' }, h('h2', { class: 'nhsuk-heading-m', text: title }), children);

const NONE = { value: '', text: 'Not recorded' };

/**
 * person: the participant being edited, or null to register someone.
 * Returns { el, fields, collect() -> { body, consents, problems } }.
 */
export function participantForm({ person = null, teams, user }) {
  const p = person || {};
  const editing = !!person;
  const given = textField({ id: 'given_name', label: 'Given name', value: p.given_name || '', widthClass: 'nhsuk-u-width-two-thirds', autocomplete: 'off' });
  const family = textField({ id: 'family_name', label: 'Family name', value: p.family_name || '', widthClass: 'nhsuk-u-width-two-thirds' });
  const preferred = textField({ id: 'preferred_name', label: 'Preferred name (optional)', hint: 'What they like to be called, if different', value: p.preferred_name || '', widthClass: 'nhsuk-u-width-two-thirds' });
  const dob = dateField({ id: 'date_of_birth', legend: 'Date of birth', hint: 'For example, 15 3 1984' });
  setDate(dob, p.date_of_birth);
  const nhs = textField({
    id: 'nhs_number', label: 'NHS number (optional)', hint: '10 digits, for example 943 476 5919',
    inputmode: 'numeric', widthClass: 'nhsuk-input--width-10', value: p.nhs_number || '',
  });
  const postcode = textField({ id: 'postcode', label: 'Postcode (optional)', widthClass: 'nhsuk-input--width-10', autocapitalize: 'characters', value: p.postcode || '' });
  const teamOptions = teams.map((t) => ({ value: t.id, text: t.name || t.id }));
  const team = selectField({
    id: 'team', label: 'Team', options: teamOptions,
    value: p.team || (teams.some((t) => t.id === user.team) ? user.team : (teams[0] && teams[0].id) || ''),
    hint: editing ? 'Moving someone to another team takes them off your team’s lists' : null,
  });

  const phone = textField({ id: 'phone', label: 'Phone number (optional)', type: 'tel', inputmode: 'tel', autocomplete: 'off', widthClass: 'nhsuk-u-width-one-half', value: p.phone || '' });
  const email = textField({ id: 'email', label: 'Email address (optional)', type: 'email', autocomplete: 'off', widthClass: 'nhsuk-u-width-two-thirds', value: p.email || '' });
  const prefs = checkboxesField({ id: 'contact_preferences', legend: 'How they are happy to be contacted (optional)', hint: 'Select all that apply', options: CONTACT_PREFS, value: p.contact_preferences || [] });
  const gp = textField({ id: 'gp_practice', label: 'GP practice (optional)', widthClass: 'nhsuk-u-width-two-thirds', value: p.gp_practice || '' });

  const sex = radiosField({ id: 'sex', legend: 'Sex (optional)', options: SEX, value: p.sex || null, inline: true });
  const gender = textField({ id: 'gender_identity', label: 'Gender identity (optional)', hint: 'In their own words, if they want to say', widthClass: 'nhsuk-u-width-two-thirds', value: p.gender_identity || '' });
  const ethnic = selectField({
    id: 'ethnic_group', label: 'Ethnic group (optional)', hint: 'As they describe it. This also sets which BMI thresholds apply.',
    options: [NONE, ...ETHNIC_GROUPS], value: p.ethnic_group || '',
  });
  const cohorts = checkboxesField({
    id: 'cohorts', legend: 'Do any of these apply to them? (optional)', hint: 'Select all that apply',
    options: COHORTS, value: COHORTS.map((c) => c.value).filter((k) => p[k] === true),
  });
  const employment = radiosField({ id: 'employment_status', legend: 'Employment (optional)', options: EMPLOYMENT, value: p.employment_status || null });
  const source = selectField({ id: 'referral_source', label: 'How they heard about Live Well (optional)', options: [NONE, ...REFERRAL_SOURCES], value: p.referral_source || '' });
  const barrier = selectField({ id: 'main_barrier', label: 'Main health barrier (optional)', options: [NONE, ...MAIN_BARRIERS], value: p.main_barrier || '' });
  const topics = checkboxesField({ id: 'topics', legend: 'Main reasons for coming (optional)', hint: 'Select all that apply', options: TOPICS, value: p.topics || [], extraClass: 'cb-columns' });

  const fields = [given, family, preferred, dob, nhs, postcode, team, phone, email, prefs, gp, sex, gender, ethnic, cohorts,
    employment, source, barrier, topics];
  const parts = [
    section('Name and date of birth', given.el, family.el, preferred.el, dob.el),
    section('Identifiers', nhs.el, postcode.el, team.el),
    section('Contact details', phone.el, email.el, prefs.el, gp.el),
    section('About them', sex.el, gender.el, ethnic.el, cohorts.el, employment.el, source.el, barrier.el, topics.el),
  ];

  let mine = null;
  let consent = null;
  let extraConsents = null;
  let status = null;
  let reason = null;
  let discharged = null;
  if (editing) {
    // A discharged person has a reason and a date; re-opening clears both.
    reason = textField({ id: 'discharge_reason', label: 'Reason for discharge', hint: 'For example: goals met, moved away, no longer wants support', value: p.discharge_reason || '', widthClass: 'nhsuk-u-width-two-thirds' });
    discharged = dateField({ id: 'discharge_date', legend: 'Date of discharge', hint: 'For example, 15 3 2026' });
    setDate(discharged, p.discharge_date);
    const details = h('div', { class: 'cb-discharge', id: 'discharge-details' }, reason.el, discharged.el);
    const show = (v) => { details.hidden = v !== 'discharged'; };
    status = radiosField({
      id: 'status', legend: 'Status', value: p.status || 'active', onchange: show,
      options: [{ value: 'active', text: 'Active: receiving support' }, { value: 'discharged', text: 'Discharged' }],
    });
    show(p.status || 'active');
    fields.push(status, reason, discharged);
    parts.push(section('Status', status.el, details));
  }
  if (!editing) {
    mine = checkboxesField({
      id: 'assign', legend: 'Caseload', options: [{ value: 'me', text: 'Add them to my caseload' }],
      value: user.role === 'coach' || user.role === 'lead' ? ['me'] : [],
    });
    consent = radiosField({
      id: 'consent_service', legend: 'Have they agreed to use the Live Well service?',
      hint: 'Explain what we keep and why. Their answer is recorded with today’s date.',
      options: [{ value: 'yes', text: 'Yes, they agree' }, { value: 'no', text: 'No' }],
    });
    extraConsents = checkboxesField({
      id: 'consent_more', legend: 'They also agree to (optional)', options: CONSENT_KINDS.filter((k) => k.value !== 'service'),
    });
    fields.push(mine, consent, extraConsents);
    parts.push(section('Consent and caseload', consent.el, extraConsents.el, mine.el));
  }

  function collect() {
    const problems = [];
    const v = {};
    v.given_name = given.value().trim();
    v.family_name = family.value().trim();
    if (!v.given_name) problems.push({ field: 'given_name', text: 'Enter their given name' });
    else if (v.given_name.length > 100) problems.push({ field: 'given_name', text: 'Given name must be 100 characters or fewer' });
    if (!v.family_name) problems.push({ field: 'family_name', text: 'Enter their family name' });
    else if (v.family_name.length > 100) problems.push({ field: 'family_name', text: 'Family name must be 100 characters or fewer' });
    v.preferred_name = preferred.value().trim() || null;

    const d = dateValue(dob, 'Date of birth', { notFuture: true, today: todayYmd() });
    if (d.error) problems.push({ field: 'date_of_birth', text: d.error, parts: d.parts });
    else v.date_of_birth = d.ymd;

    const n = normaliseNhsNumber(nhs.value());
    v.nhs_number = null;
    if (n) {
      if (!/^\d{10}$/.test(n)) problems.push({ field: 'nhs_number', text: 'NHS number must be 10 digits' });
      else if (!isValidNhsNumber(n)) problems.push({ field: 'nhs_number', text: 'Enter a valid NHS number' });
      else v.nhs_number = n;
    }
    const pc = normalisePostcode(postcode.value());
    v.postcode = null;
    if (pc) {
      if (!isPlausiblePostcode(pc)) problems.push({ field: 'postcode', text: 'Enter a real postcode, like M25 1AB' });
      else v.postcode = pc;
    }
    if (!team.value()) problems.push({ field: 'team', text: 'Select a team' });
    else v.team = team.value();

    const ph = phone.value().trim().replace(/[\s()-]/g, '');
    v.phone = null;
    if (ph) {
      if (!/^\+?\d{10,13}$/.test(ph)) problems.push({ field: 'phone', text: 'Enter a UK phone number, like 0161 496 0000 or 07700 900 982' });
      else v.phone = ph;
    }
    const em = email.value().trim();
    v.email = null;
    if (em) {
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(em)) problems.push({ field: 'email', text: 'Enter an email address in the correct format, like name@example.com' });
      else v.email = em;
    }
    v.contact_preferences = prefs.value();
    v.gp_practice = gp.value().trim() || null;
    if (v.gp_practice && v.gp_practice.length > 200) problems.push({ field: 'gp_practice', text: 'GP practice must be 200 characters or fewer' });
    v.sex = sex.value();
    v.gender_identity = gender.value().trim() || null;
    v.ethnic_group = ethnic.value() || null;
    const c = cohorts.value();
    for (const k of COHORTS) v[k.value] = c.includes(k.value);
    v.employment_status = employment.value();
    v.referral_source = source.value() || null;
    v.main_barrier = barrier.value() || null;
    v.topics = topics.value();
    if (editing) {
      v.status = status.value() || 'active';
      v.discharge_reason = null;
      v.discharge_date = null;
      if (v.status === 'discharged') {
        v.discharge_reason = reason.value().trim() || null;
        if (!v.discharge_reason) problems.push({ field: 'discharge_reason', text: 'Enter the reason for discharge' });
        else if (v.discharge_reason.length > 200) problems.push({ field: 'discharge_reason', text: 'Reason for discharge must be 200 characters or fewer' });
        const dd = dateValue(discharged, 'Date of discharge', { notFuture: true, today: todayYmd() });
        if (dd.error) problems.push({ field: 'discharge_date', text: dd.error, parts: dd.parts });
        else v.discharge_date = dd.ymd;
      }
    }

    let body;
    if (editing) {
      // Only what changed; null clears an optional field.
      body = {};
      for (const [k, val] of Object.entries(v)) {
        const before = p[k] === undefined ? null : p[k];
        const same = Array.isArray(val)
          ? JSON.stringify([...val].sort()) === JSON.stringify([...(before || [])].sort()) || (!val.length && !before)
          : val === before || (val === false && before === null);
        if (!same) body[k] = Array.isArray(val) && !val.length ? null : val;
      }
    } else {
      body = {};
      for (const [k, val] of Object.entries(v)) {
        if (val === null || val === undefined || val === '' || (Array.isArray(val) && !val.length)) continue;
        if (val === false && COHORTS.some((x) => x.value === k) && !c.length) continue;
        body[k] = val;
      }
      if (mine.value().includes('me') && user.id) body.assigned_coach = user.id;
    }

    let consents = [];
    if (!editing) {
      const cs = consent.value();
      if (!cs) problems.push({ field: 'consent_service', text: 'Select whether they agree to use the Live Well service' });
      else {
        const today = todayYmd();
        consents = [{ kind: 'service', given: cs === 'yes', date: today }];
        const more = extraConsents.value();
        for (const k of ['contact', 'share_gp']) if (more.includes(k)) consents.push({ kind: k, given: true, date: today });
      }
    }
    return { body, consents, problems, identity: { given_name: v.given_name, family_name: v.family_name, preferred_name: v.preferred_name, date_of_birth: v.date_of_birth, nhs_number: v.nhs_number, postcode: v.postcode } };
  }

  return { el: h('div', null, parts), fields, collect };
}
