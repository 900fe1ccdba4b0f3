// Hash routing: #/login, #/people, #/people/new, #/people/<id>, with an
// optional query (#/people?q=smith).  Views are objects { render(ctx) }.

const routes = [];
let renderToken = 0;
let controller = null;
let hooks = { beforeRender: null, afterRender: null, guard: null };
let firstRender = true;

export function addRoute(pattern, view, options = {}) {
  routes.push({ pattern, view, ...options });
}

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#/, '') || '/';
  const [pathPart, queryPart = ''] = raw.split('?');
  const path = pathPart.replace(/\/+$/, '') || '/';
  return { path, query: new URLSearchParams(queryPart) };
}

export function href(path, query) {
  const q = query ? new URLSearchParams(query).toString() : '';
  return `#${path}${q ? `?${q}` : ''}`;
}

export function navigate(target, { replace = false } = {}) {
  const hash = target.startsWith('#') ? target : `#${target}`;
  if (location.hash === hash) {
    render();
  } else if (replace) {
    location.replace(hash);
  } else {
    location.hash = hash;
  }
}

function match(path) {
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (m) {
      const params = {};
      (r.keys || []).forEach((k, i) => {
        try {
          params[k] = decodeURIComponent(m[i + 1]);
        } catch {
          params[k] = m[i + 1];
        }
      });
      return { route: r, params };
    }
  }
  return null;
}

export async function render() {
  const token = ++renderToken;
  if (controller) controller.abort();
  controller = new AbortController();
  const loc = parseHash();
  let found = match(loc.path);
  if (hooks.guard) {
    const redirect = hooks.guard(found && found.route, loc);
    if (redirect) {
      navigate(redirect, { replace: true });
      return;
    }
  }
  if (!found) found = { route: routes.find((r) => r.notFound), params: {} };
  const ctx = {
    path: loc.path,
    params: found.params,
    query: loc.query,
    signal: controller.signal,
    isCurrent: () => token === renderToken,
    route: found.route,
  };
  if (hooks.beforeRender) hooks.beforeRender(ctx);
  const initial = firstRender;
  firstRender = false;
  let result;
  try {
    result = await found.route.view.render(ctx);
  } catch (err) {
    if (err && err.name === 'AbortError') return;
    if (token !== renderToken) return;
    throw err;
  }
  if (token !== renderToken) return;
  if (hooks.afterRender) hooks.afterRender(ctx, result || {}, initial);
}

export function startRouter(options) {
  hooks = { ...hooks, ...options };
  window.addEventListener('hashchange', () => {
    render();
  });
  return render();
}
