// The server's codes (docs/API.md) and the words shown for them.

const opts = (pairs) => pairs.map(([value, text, hint]) => (hint ? { value, text, hint } : { value, text }));

export const TOPICS = opts([
  ['physical_activity', 'Physical activity'],
  ['weight', 'Weight'],
  ['diet', 'Healthy eating'],
  ['smoking', 'Smoking'],
  ['alcohol', 'Alcohol'],
  ['blood_pressure', 'Blood pressure'],
  ['mental_wellbeing', 'Mental wellbeing'],
  ['bowel_screening', 'Bowel screening'],
  ['frailty_falls', 'Frailty and falls'],
  ['work_health', 'Work and health'],
  ['other', 'Other'],
]);

// ONS 2021 (England and Wales), in the census order, grouped.
export const ETHNIC_GROUPS = [
  { group: 'Asian or Asian British', items: opts([
    ['asian_indian', 'Indian'], ['asian_pakistani', 'Pakistani'], ['asian_bangladeshi', 'Bangladeshi'],
    ['asian_chinese', 'Chinese'], ['asian_other', 'Any other Asian background']]) },
  { group: 'Black, Black British, Caribbean or African', items: opts([
    ['black_caribbean', 'Caribbean'], ['black_african', 'African'],
    ['black_other', 'Any other Black, Black British or Caribbean background']]) },
  { group: 'Mixed or multiple ethnic groups', items: opts([
    ['mixed_white_black_caribbean', 'White and Black Caribbean'], ['mixed_white_black_african', 'White and Black African'],
    ['mixed_white_asian', 'White and Asian'], ['mixed_other', 'Any other Mixed or multiple ethnic background']]) },
  { group: 'White', items: opts([
    ['white_british', 'English, Welsh, Scottish, Northern Irish or British'], ['white_irish', 'Irish'],
    ['white_gypsy_traveller', 'Gypsy or Irish Traveller'], ['white_roma', 'Roma'], ['white_other', 'Any other White background']]) },
  { group: 'Other ethnic group', items: opts([['other_arab', 'Arab'], ['other_any', 'Any other ethnic group']]) },
  { group: 'Not stated', items: opts([['not_stated', 'Prefer not to say']]) },
];

export const SEX = opts([['female', 'Female'], ['male', 'Male'], ['not_stated', 'Prefer not to say']]);
export const EMPLOYMENT = opts([
  ['in_work', 'In work'],
  ['out_of_work', 'Out of work and looking for work'],
  ['economically_inactive', 'Not working and not looking for work', 'For example, retired, a full-time carer or long-term sick'],
  ['not_stated', 'Prefer not to say'],
]);
export const REFERRAL_SOURCES = opts([
  ['self', 'Self-referral'], ['gp', 'GP practice'], ['social_prescriber', 'Social prescriber'], ['jobcentre', 'Jobcentre'],
  ['employer', 'Employer'], ['community_organisation', 'Community organisation'], ['other', 'Other'],
]);
export const MAIN_BARRIERS = opts([
  ['mental_health', 'Mental health'], ['musculoskeletal', 'Muscles, bones or joints'], ['autism', 'Autism'],
  ['heart_blood_pressure', 'Heart or blood pressure'], ['learning_difficulties', 'Learning difficulties'], ['other', 'Other'],
]);
export const CONTACT_PREFS = opts([['phone', 'Phone call'], ['sms', 'Text message'], ['email', 'Email'], ['letter', 'Letter']]);
export const COHORTS = opts([
  ['veteran', 'Armed forces veteran'],
  ['carer', 'Unpaid carer'],
  ['long_term_condition', 'Long-term health condition'],
  ['learning_disability', 'Learning disability'],
]);
export const CONSENT_KINDS = opts([
  ['service', 'Using the Live Well service', 'Keeping their record and contacting them about their support'],
  ['contact', 'Being contacted between visits'],
  ['share_gp', 'Sharing information with their GP practice'],
]);
export const ENCOUNTER_TYPES = opts([
  ['one_to_one', 'One-to-one'],
  ['drop_in', 'Drop-in'],
  ['phone', 'Phone call'],
  ['video', 'Video call'],
  ['group', 'Group session'],
  ['dna', 'Did not attend'],
]);
export const REFERRAL_DESTINATIONS = opts([
  ['stop_smoking', 'Stop smoking service'], ['exercise_referral', 'Exercise referral'],
  ['weight_management', 'Weight management'], ['bowel_screening', 'Bowel screening'], ['gp', 'GP practice'],
  ['social_prescribing', 'Social prescribing'], ['mental_health', 'Mental health service'],
  ['employment_support', 'Employment support'], ['other', 'Other'],
]);
export const REFERRAL_STATUSES = opts([['sent', 'Sent'], ['accepted', 'Accepted'], ['declined', 'Declined'], ['attended', 'Attended']]);
export const GOAL_STATUSES = opts([
  ['agreed', 'Agreed'], ['partly_achieved', 'Partly achieved'], ['fully_achieved', 'Fully achieved'], ['not_achieved', 'Not achieved'],
]);
export const TIMEPOINTS = opts([['baseline', 'Baseline'], ['review', 'Review'], ['exit', 'Exit']]);
export const CHECKIN_STATUSES = opts([
  ['waiting', 'Waiting'], ['with_coach', 'With a coach'], ['seen', 'Seen'], ['left', 'Left without being seen'],
]);
export const PROGRAMME_STATUSES = opts([['planned', 'Planned'], ['running', 'Running'], ['finished', 'Finished'], ['cancelled', 'Cancelled']]);
export const ATTENDANCE = opts([['attended', 'Attended'], ['absent', 'Absent'], ['apologies', 'Apologies']]);
export const MATCH_REASONS = {
  same_nhs_number: 'Same NHS number',
  same_dob_similar_name: 'Same date of birth, similar name',
  same_dob_same_postcode: 'Same date of birth and postcode',
};

/** Words for a code from a list, or the code made readable. */
export function label(list, value) {
  if (value === null || value === undefined || value === '') return '';
  const hit = list.find((o) => o.value === value);
  return hit ? hit.text : humanise(value);
}

export function ethnicGroupText(value) {
  for (const g of ETHNIC_GROUPS) {
    const hit = g.items.find((o) => o.value === value);
    if (hit) return value === 'not_stated' ? hit.text : `${g.group}: ${hit.text}`;
  }
  return humanise(value);
}

export function humanise(code) {
  const s = String(code).replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function topicText(v) {
  return label(TOPICS, v);
}
