import { add, h } from '../lib/dom.js';

export const notFoundView = {
  title: 'Page not found',
  render(ctx) {
    add(ctx.main, 
      h('h1', { text: 'Page not found' }),
      h('p', { text: 'If you typed the web address, check it is correct.' }),
      h('p', null, h('a', { class: 'nhsuk-link', href: '#/people', text: 'Find a person' })));
    return {};
  },
};
