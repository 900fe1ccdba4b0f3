// Sign out, after saying what is still waiting to be sent.
import { add, h } from '../lib/dom.js';
import { outbox } from '../lib/outbox.js';

export const signOutView = {
  title: 'Sign out',
  signOut: null, // set by app.js
  async render(ctx) {
    const s = outbox.state;
    const n = s.pending + s.failed;
    if (!n) {
      await signOutView.signOut();
      return {};
    }
    const btn = h('button', { class: 'nhsuk-button nhsuk-button--warning', type: 'button', text: 'Sign out anyway' });
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      await signOutView.signOut();
    });
    add(ctx.main, 
      h('h1', { text: 'Sign out?' }),
      h('div', { class: 'nhsuk-warning-callout' },
        h('h2', { class: 'nhsuk-warning-callout__label' }, h('span', { role: 'text' }, h('span', { class: 'nhsuk-u-visually-hidden', text: 'Important: ' }), `${n} ${n === 1 ? 'change has' : 'changes have'} not been sent yet`)),
        h('p', { text: 'They are kept safely on this tablet and are sent the next time you sign in here. They cannot be sent while you are signed out, and nobody else can send them for you.' })),
      h('div', { class: 'cb-actions' },
        h('a', { class: 'nhsuk-button', href: '#/sync', role: 'button', draggable: 'false', text: 'See what is waiting' }),
        btn),
      h('p', null, h('a', { class: 'nhsuk-link', href: '#/today', text: 'Stay signed in' })));
    return {};
  },
};
