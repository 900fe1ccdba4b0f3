// Formatting and parsing of dates, times, NHS numbers and postcodes.
// All times are shown in UK time (Europe/London) whatever the tablet's zone.

export const TIME_ZONE = 'Europe/London';

const partsFmt = new Intl.DateTimeFormat('en-GB', {
  timeZone: TIME_ZONE,
  year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});
const longDateFmt = new Intl.DateTimeFormat('en-GB', {
  timeZone: TIME_ZONE, weekday: 'long', day: 'numeric', month: 'long', year: 'numeric',
});
const timeFmt = new Intl.DateTimeFormat('en-GB', {
  timeZone: TIME_ZONE, hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
});
const dateOnlyFmt = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'UTC', day: 'numeric', month: 'long', year: 'numeric',
});
const dateOnlyShortFmt = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'UTC', day: 'numeric', month: 'short', year: 'numeric',
});

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** Wall-clock parts of an instant in Europe/London. */
export function londonParts(date) {
  const p = {};
  for (const { type, value } of partsFmt.formatToParts(date)) p[type] = value;
  return {
    year: Number(p.year), month: Number(p.month), day: Number(p.day),
    hour: Number(p.hour) % 24, minute: Number(p.minute), second: Number(p.second),
  };
}

/** The instant at which Europe/London shows the given wall-clock time. */
export function londonToDate(year, month, day, hour, minute) {
  const wanted = Date.UTC(year, month - 1, day, hour, minute);
  let t = wanted;
  for (let i = 0; i < 3; i++) {
    const p = londonParts(new Date(t));
    const shown = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute);
    if (shown === wanted) break;
    t += wanted - shown;
  }
  return new Date(t);
}

function parseInstant(iso) {
  const d = iso instanceof Date ? iso : new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "Thursday 26 November 2026 at 12:39" (UK time). */
export function formatDateTime(iso) {
  const d = parseInstant(iso);
  if (!d) return String(iso ?? '');
  return `${longDateFmt.format(d).replace(',', '')} at ${timeFmt.format(d)}`;
}

/** "12:39" (UK time). */
export function formatTime(iso) {
  const d = parseInstant(iso);
  return d ? timeFmt.format(d) : '';
}

/** Calendar date "YYYY-MM-DD" -> "15 March 1984", or "15 Mar 1984" (no time zone shift). */
export function formatDate(ymd, { short = false } = {}) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(ymd || '');
  if (!m) return ymd || '';
  return (short ? dateOnlyShortFmt : dateOnlyFmt).format(new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])));
}

/** Age in whole years today (UK date) for a "YYYY-MM-DD" date of birth. */
export function ageOn(ymd, now = new Date()) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(ymd || '');
  if (!m) return null;
  const t = londonParts(now);
  let age = t.year - +m[1];
  if (t.month < +m[2] || (t.month === +m[2] && t.day < +m[3])) age -= 1;
  return age >= 0 ? age : null;
}

/** Today's date in the UK as {year, month, day}. */
export function londonToday(now = new Date()) {
  const p = londonParts(now);
  return { year: p.year, month: p.month, day: p.day };
}

export function toYmd(year, month, day) {
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}`;
}

export function toHm(hour, minute) {
  return `${pad(hour)}:${pad(minute)}`;
}

/** "9434765919" -> "943 476 5919". */
export function formatNhsNumber(n) {
  if (!n) return '';
  const d = String(n).replace(/\s+/g, '');
  return /^\d{10}$/.test(d) ? `${d.slice(0, 3)} ${d.slice(3, 6)} ${d.slice(6)}` : String(n);
}

/** Strip spaces and dashes a person may type in an NHS number. */
export function normaliseNhsNumber(s) {
  return String(s || '').replace(/[\s-]+/g, '');
}

/** Modulus 11 check digit test for a 10-digit NHS number. */
export function isValidNhsNumber(d) {
  if (!/^\d{10}$/.test(d)) return false;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(d[i]) * (10 - i);
  let check = 11 - (sum % 11);
  if (check === 11) check = 0;
  return check !== 10 && check === Number(d[9]);
}

/** Upper-case and single-space a UK postcode ("m25 1ab" -> "M25 1AB"). */
export function normalisePostcode(s) {
  const c = String(s || '').toUpperCase().replace(/\s+/g, '');
  if (c.length < 5) return c;
  return `${c.slice(0, -3)} ${c.slice(-3)}`;
}

export function isPlausiblePostcode(s) {
  return /^[A-Z0-9]{2,4} [0-9][A-Z]{2}$/.test(s);
}

/**
 * Turn what a coach types in the search box into the server's query:
 * an NHS number loses its spaces, a UK date "15/03/1984" becomes 1984-03-15.
 */
export function normaliseSearch(q) {
  const s = String(q || '').trim().replace(/\s+/g, ' ');
  const digits = s.replace(/[\s-]/g, '');
  if (/^\d{10}$/.test(digits)) return digits;
  const uk = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/.exec(s);
  if (uk) return toYmd(+uk[3], +uk[2], +uk[1]);
  return s;
}

export function fullName(p) {
  return [p.given_name, p.family_name].filter(Boolean).join(' ');
}

/** Today's UK date as "YYYY-MM-DD". */
export function todayYmd(now = new Date()) {
  const t = londonToday(now);
  return toYmd(t.year, t.month, t.day);
}

/** "YYYY-MM-DD" plus n days. */
export function addDays(ymd, n) {
  const d = new Date(`${ymd}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** A date or an instant, whichever the server sent. */
export function formatWhen(v, { short = false } = {}) {
  if (/^\d{4}-\d{2}-\d{2}$/.test(v || '')) return formatDate(v, { short });
  if (short) {
    const d = parseInstant(v);
    if (!d) return String(v || '');
    const p = londonParts(d);
    return `${formatDate(toYmd(p.year, p.month, p.day), { short: true })}, ${formatTime(d)}`;
  }
  return formatDateTime(v);
}

/** "5 minutes", "1 hour 20 minutes". */
export function formatMinutes(n) {
  const m = Math.max(0, Math.round(Number(n) || 0));
  if (m < 60) return `${m} minute${m === 1 ? '' : 's'}`;
  const hrs = Math.floor(m / 60);
  const rest = m % 60;
  return `${hrs} hour${hrs === 1 ? '' : 's'}${rest ? ` ${rest} minute${rest === 1 ? '' : 's'}` : ''}`;
}

/** "Amelia Ahmed", with the preferred name when there is one: "Amelia (Millie) Ahmed". */
export function displayName(p) {
  if (!p) return '';
  const given = p.given_name || '';
  const pref = p.preferred_name && p.preferred_name !== given ? ` (${p.preferred_name})` : '';
  return `${given}${pref} ${p.family_name || ''}`.trim();
}

/** The instant of a UK date at a UK wall-clock time, or null. */
export function ukInstant(ymd, hour = 0, minute = 0) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(ymd || '');
  if (!m) return null;
  return londonToDate(+m[1], +m[2], +m[3], hour, minute);
}

/** "5 minutes ago", "3 days ago" for an instant in the past. */
export function ago(iso, now = Date.now()) {
  const m = (now - Date.parse(iso)) / 60000;
  if (!Number.isFinite(m)) return '';
  if (m < 1) return 'just now';
  if (m < 60 * 48) return `${formatMinutes(m)} ago`;
  return `${Math.round(m / 1440)} days ago`;
}
