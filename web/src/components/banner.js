// NHS notification banner (success or important information).
import { h } from '../lib/dom.js';

let n = 0;

export function notificationBanner({ title = 'Success', heading, text, success = true }) {
  n += 1;
  const titleId = `cb-banner-title-${n}`;
  return h('div', {
    class: ['nhsuk-notification-banner', success && 'nhsuk-notification-banner--success'],
    role: success ? 'alert' : 'region',
    'aria-labelledby': titleId,
    tabindex: '-1',
  },
  h('div', { class: 'nhsuk-notification-banner__header' },
    h('h2', { class: 'nhsuk-notification-banner__title', id: titleId, text: title })),
  h('div', { class: 'nhsuk-notification-banner__content' },
    heading ? h('p', { class: 'nhsuk-notification-banner__heading', text: heading }) : null,
    text ? h('p', { class: 'nhsuk-body', text }) : null));
}
