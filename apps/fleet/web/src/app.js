// app.js — the shell of weft fleet's ops dashboard: sign-in, the top bar
// (KPI tiles, navigation, the user), the hash router, the shared map and
// live store, the connection banner and toasts.
//
// THE PAGE CONTRACT (pages of other authors rely on these names; extend
// only by adding):
//
// a page module: apps/fleet/web/src/pages/<name>.js
//   export function mount(root /* HTMLElement, the page area */, ctx) { ...; return { unmount() {} }; }
// ctx = {
//   api:   { get(path, query?), post(path, body), put(path, body), del(path) }
//          -> parsed JSON (or text for CSV when asked: get(path, query, {text: true}));
//          throws ApiError {status, message, body}
//          (body = the API's JSON error, e.g. {"error": "...", "field": "..."} if it has one)
//          path: '/api/devices' or 'devices' (same thing)
//   user:  the signed-in user object from GET /api/session
//   map:   the shared Leaflet L.Map (pages may add their own layers; remove them on unmount)
//   L:     the Leaflet namespace
//   loadDraw(): a promise of the drawing plugin (Leaflet-Geoman: map.pm, layer.pm on
//          layers made after it resolves); fetched on the first call, not on first load
//   store: live state: store.devices (Map id -> device), store.positions (Map deviceId ->
//          position), store.groups (Map), store.on(type, fn) / store.off(type, fn) with
//          types 'devices' | 'positions' | 'events' | 'reset' (and 'applied': after each batch)
//   navigate(hash), toast(text, kind), setMapMode('live' | 'page') (hide live markers while
//   a page such as replay draws its own)
//   setPanelWide(bool): a wide page area for tables (reset to narrow on every route change)
// }
// Routes: #/map (default, the live view: list, details, alerts), #/replay,
// #/geofences, #/reports, #/devices (pages/<name>.js). The page area is a
// panel beside the map; the map stays mounted. A page whose module does not
// load shows "not available yet".

import { api, ApiError } from './api.js';
import { h } from './dom.js';
import { createStore, connectLive } from './live.js';
import { createMap } from './map.js';
import { mountLive } from './liveview.js';
import { mountKpi } from './kpi.js';

const L = window.L;
const ROUTES = [
  ['map', 'Live'],
  ['replay', 'Replay'],
  ['geofences', 'Geofences'],
  ['reports', 'Reports'],
  ['devices', 'Devices', (u) => u.role === 'admin' || u.role === 'manager'],
];


// Leaflet-Geoman (drawing and editing geofences; at 285 KB minified the
// largest script of the page) comes when a page first asks for it
// (ctx.loadDraw), as a script and a stylesheet added then (precompress.mjs
// finds these URLs here). The map made before it gets its map.pm by hand, as
// the plugin's own init hook would have given it.
const GEOMAN = ['/vendor/@geoman-io/leaflet-geoman-free@2.17.0/dist/leaflet-geoman.css',
  '/vendor/@geoman-io/leaflet-geoman-free@2.17.0/dist/leaflet-geoman.min.js'];
let geoman = null;
function loadDraw(map) {
  geoman ??= Promise.all(GEOMAN.map((url) => new Promise((resolve, reject) => {
    const el = url.endsWith('.css') ? h('link', { rel: 'stylesheet', href: url }) : h('script', { src: url });
    el.onload = resolve;
    el.onerror = () => reject(new Error('the drawing tools did not load'));
    document.head.append(el);
  }))).catch((e) => { geoman = null; throw e; });
  return geoman.then(() => {
    if (!map.pm) { L.PM.reInitLayer(map); map.pm.setGlobalOptions({}); }
    return map.pm;
  });
}

const app = document.getElementById('app');
let toastBox;

export function toast(text, kind = 'info') {
  if (!toastBox) return;
  const t = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  toastBox.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

function loginView(server, message) {
  app.replaceChildren();
  const err = h('p', { class: 'login-error', role: 'alert' }, message ?? '');
  const email = h('input', { id: 'email', name: 'email', type: 'email', autocomplete: 'username', required: true });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'login', onsubmit: async (e) => {
    e.preventDefault();
    button.disabled = true;
    err.textContent = '';
    let user;
    try {
      user = await api.post('/api/session', { email: email.value, password: password.value });
    } catch (x) {
      err.textContent = x.status === 401 ? 'Wrong email or password.' : x.message;
      button.disabled = false;
      return;
    }
    start(user, server);
  } },
  h('h1', {}, 'weft fleet'),
  h('label', { for: 'email' }, 'Email'), email,
  h('label', { for: 'password' }, 'Password'), password,
  button, err);
  app.append(form);
  email.focus();
}

function start(user, server) {
  app.replaceChildren();
  const store = createStore();
  const banner = h('div', { class: 'banner', role: 'status', hidden: true });
  const nav = h('nav', { 'aria-label': 'Views' },
    ROUTES.filter(([, , may]) => !may || may(user)).map(([id, label]) => h('a', { href: `#/${id}`, 'data-route': id }, label)));
  const kpiBox = h('div', { class: 'kpis', 'aria-label': 'Fleet at a glance' });
  const logout = h('button', { class: 'link', onclick: async () => {
    try { await api.del('/api/session'); } catch { /* signed out anyway */ }
    live.close();
    location.hash = '';
    loginView(server, 'Signed out.');
  } }, 'Sign out');
  const top = h('header', { class: 'top' },
    h('span', { class: 'brand' }, 'weft fleet'), nav, kpiBox,
    h('span', { class: 'user' }, h('b', { class: 'user-name' }, user.name), ' ', h('span', { class: 'role' }, user.role), ' ', logout));
  const side = h('section', { class: 'side', 'aria-label': 'Page' });
  const mapEl = h('div', { class: 'map', id: 'map' });
  toastBox = h('div', { class: 'toasts', 'aria-live': 'polite' });
  app.append(top, banner, h('main', { class: 'body' }, side, mapEl), toastBox);

  const fleetMap = createMap(mapEl, store, server);
  const ctx = {
    api, user, map: fleetMap.map, L, store, toast, loadDraw: () => loadDraw(fleetMap.map),
    navigate: (hash) => { location.hash = hash.startsWith('#') ? hash : '#' + hash; },
    setMapMode: (mode) => fleetMap.setMode(mode),
    setPanelWide: (wide) => { side.classList.toggle('wide', !!wide); fleetMap.map.invalidateSize(); },
    fleetMap, server,
  };
  mountKpi(kpiBox, ctx);
  api.get('/api/groups').then((gs) => {
    for (const g of gs) store.groups.set(g.id, g);
    store.emit('devices', new Map());
  }).catch(() => {});

  const live = connectLive(store, (state) => {
    banner.hidden = state === 'open' || state === 'connecting' || state === 'resync'; // resync: catching up, not lost
    banner.textContent = 'Connection lost — reconnecting…';
    document.body.dataset.live = state;
  });

  let current = null, currentId = null;
  async function route() {
    const id = (location.hash.match(/^#\/([\w-]+)/) ?? [])[1] ?? 'map';
    if (id === currentId) return;
    currentId = id;
    current?.unmount?.();
    current = null;
    fleetMap.setMode('live');
    ctx.setPanelWide(false);
    side.replaceChildren();
    for (const a of nav.querySelectorAll('a')) a.toggleAttribute('aria-current', a.dataset.route === id);
    if (id === 'map') { current = mountLive(side, ctx); return; }
    let mod;
    try {
      if (!ROUTES.some(([r]) => r === id)) throw new Error('no such page');
      mod = await import(`./pages/${id}.js`);
    } catch {
      if (currentId === id) side.replaceChildren(h('p', { class: 'empty' }, `The ${id} page is not available yet.`));
      return;
    }
    if (currentId !== id) return;
    try {
      current = mod.mount(side, ctx);
    } catch (e) {
      side.replaceChildren(h('p', { class: 'empty' }, `The ${id} page failed: ${e.message}`));
    }
  }
  window.onhashchange = route;
  route();
}

async function boot() {
  // both at once (one round trip less on the first load)
  const [server, session] = await Promise.all([
    api.get('/api/server').catch(() => ({})),
    api.get('/api/session').then((user) => ({ user }), (error) => ({ error })),
  ]);
  if (session.user) start(session.user, server);
  else loginView(server, session.error instanceof ApiError && session.error.status !== 401 ? session.error.message : '');
}
boot();
