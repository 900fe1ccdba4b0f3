// Tiny DOM builder.  Everything is created with createElement/textContent:
// the app never assigns HTML strings (the data is personal health data).

/**
 * h('a', {class: 'nhsuk-link', href: '#/people', onclick: fn}, 'text', child, [more])
 *  - class: string or array (falsy entries skipped)
 *  - text: sets textContent
 *  - on<event>: addEventListener
 *  - boolean true -> empty attribute, false/null/undefined -> omitted
 *  - anything else -> setAttribute (values are strings; never HTML)
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === false || value === null || value === undefined) continue;
      if (key === 'class') {
        const cls = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
        if (cls) el.className = cls;
      } else if (key === 'text') {
        el.textContent = String(value);
      } else if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2), value);
      } else if (key === 'value' && 'value' in el) {
        el.value = String(value);
      } else if (value === true) {
        el.setAttribute(key, '');
      } else {
        el.setAttribute(key, String(value));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Visually hidden text for screen readers. */
export function vh(text) {
  return h('span', { class: 'nhsuk-u-visually-hidden', text });
}

let idCounter = 0;
export function uid(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** Focus an element that may not normally take focus (e.g. a heading). */
export function focusEl(el, { scroll = true } = {}) {
  if (!el) return;
  if (!el.hasAttribute('tabindex') && !/^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) {
    el.setAttribute('tabindex', '-1');
    el.addEventListener('blur', () => el.removeAttribute('tabindex'), { once: true });
  }
  el.focus({ preventScroll: !scroll });
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Like h() for SVG elements (createElementNS; attributes only, never markup). */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') el.textContent = String(v);
      else el.setAttribute(k, String(v));
    }
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An NHS tag. */
export function tag(text, colour) {
  return h('strong', { class: ['nhsuk-tag', colour && `nhsuk-tag--${colour}`], text });
}

/** Replace an element's children (nulls skipped, arrays flattened). */
export function fill(el, ...children) {
  clear(el);
  return append(el, children);
}

/** Append children (nulls skipped, arrays flattened). */
export function add(el, ...children) {
  return append(el, children);
}
