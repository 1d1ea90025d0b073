// pages/geofences.js — geofences (#/geofences): the list, each drawn on the
// map; draw a circle or a polygon (the geoman plugin, map.pm, which the
// shell loads when an editor first opens this page: ctx.loadDraw), name it
// and save (POST); edit name, group and shape (PUT); delete after a
// confirmation (DELETE).
//
// Enter/exit events need nothing here: the server tests every fix against
// the fences (fleet_reload_geofences on each change) and the shell's alert
// feed shows the events from the live socket.
//
// Areas go to the API as GeoJSON (forms.js circleArea/polygonArea) and come
// back through areaShape. Viewers see the list; the forms are for managers
// and admins (the API decides: a manager's change to a global fence is its
// 403, shown in the form).
import {h, ensureCss, field, clearErrors, showError, confirmDialog, options} from './dom.js';
import {fieldError, circleArea, polygonArea, areaShape, areaSummary, geofenceBody} from './forms.js';

const FIELDS = ['name', 'description', 'groupId', 'area'];
const STYLE = {color: '#2563eb', weight: 2, fillOpacity: 0.12};
const EDIT_STYLE = {color: '#d97706', weight: 3, fillOpacity: 0.2};
// Going to a fence is not animated: a second fit while a zoom animation of the
// first still runs ends where the first was going (Leaflet 1.9: seen with a quick
// Edit after Edit on a loaded machine, the new fence's handles off the map)
const FIT = {maxZoom: 17, padding: [30, 30], animate: false};

export function mount(root, ctx) {
  ensureCss();
  const {map, L} = ctx;
  const canEdit = ctx.user.role !== 'viewer';
  let fences = [], groups = [], alive = true;
  let editing = null; // {fence (null: new), layer, form}
  const layers = L.featureGroup().addTo(map);
  const byId = new Map(); // fence id -> layer

  const status = h('p.wp-status', {role: 'status'});
  const list = h('ul.wp-list', {'aria-label': 'Geofences'});
  const formBox = h('div.wp-formbox');
  // the drawing plugin, for those who may draw; the buttons wait for it
  const drawReady = canEdit ? ctx.loadDraw() : null;
  const drawCircle = h('button', {type: 'button', disabled: true, onclick: () => startDraw('Circle')}, 'Draw circle');
  const drawPolygon = h('button', {type: 'button', disabled: true, onclick: () => startDraw('Polygon')}, 'Draw polygon');
  drawReady?.then(() => { drawCircle.disabled = drawPolygon.disabled = false; },
    (e) => { if (alive) status.textContent = `${e.message}: reload the page to draw or edit.`; });
  const page = h('section.wp-page.wp-side.wp-geofences', {'aria-label': 'Geofences'},
    h('header.wp-head', null, h('h2', null, 'Geofences'),
      canEdit && h('div.wp-actions', null, drawCircle, drawPolygon)),
    status, formBox, list);
  root.append(page);

  function layerOf(area, style) {
    const s = areaShape(area);
    if (!s) return null;
    return s.kind === 'circle' ? L.circle(s.center, {...style, radius: s.radius}) : L.polygon(s.rings, style);
  }

  function areaOf(layer) {
    if (layer instanceof L.Circle) return circleArea(layer.getLatLng(), layer.getRadius());
    let ll = layer.getLatLngs();
    while (Array.isArray(ll[0])) ll = ll[0]; // the outer ring
    return polygonArea(ll);
  }

  function groupName(id) {
    if (id == null) return 'all groups';
    const g = groups.find((x) => x.id === id);
    return g ? g.name : `group ${id}`;
  }

  function render() {
    layers.clearLayers();
    byId.clear();
    for (const f of fences) {
      if (editing && editing.fence && editing.fence.id === f.id) continue; // drawn by the editor
      const l = layerOf(f.area, STYLE);
      if (!l) continue;
      l.bindTooltip(f.name);
      l.on('click', () => focusFence(f));
      layers.addLayer(l);
      byId.set(f.id, l);
    }
    list.replaceChildren(...fences.map((f) => h('li', {dataset: {id: f.id}},
      h('button.wp-link', {type: 'button', onclick: () => focusFence(f), title: 'Show on the map'}, f.name),
      h('span.wp-meta', null, `${areaSummary(f.area)} · ${groupName(f.groupId)}`),
      canEdit && h('span.wp-row-actions', null,
        h('button', {type: 'button', onclick: () => startEdit(f), 'aria-label': `Edit ${f.name}`}, 'Edit'),
        h('button.danger', {type: 'button', onclick: () => remove(f), 'aria-label': `Delete ${f.name}`}, 'Delete')))));
    status.textContent = fences.length ? `${fences.length} geofences` : 'No geofences yet: draw one.';
  }

  function focusFence(f) {
    const l = byId.get(f.id);
    if (l) map.fitBounds(l.getBounds(), FIT);
  }

  async function load() {
    try {
      const [fs, gs] = await Promise.all([ctx.api.get('/api/geofences'), ctx.api.get('/api/groups')]);
      if (!alive) return;
      fences = fs;
      groups = gs;
      render();
    } catch (e) {
      if (alive) status.textContent = fieldError(e, []).message;
    }
  }

  // ---- drawing and editing ----

  function startDraw(shape) {
    cancelEdit();
    map.pm.enableDraw(shape, {snappable: false, continueDrawing: false});
    status.textContent = shape === 'Circle'
      ? 'Click the centre, then drag or click for the radius. Escape cancels.'
      : 'Click each corner; click the first corner again to finish. Escape cancels.';
  }

  function onCreate(e) {
    map.pm.disableDraw();
    const layer = e.layer;
    layer.setStyle(EDIT_STYLE);
    layer.pm.enable();
    openForm(null, layer);
  }

  async function startEdit(f) {
    try { await drawReady; } catch { return; } // said in the status line
    if (!alive) return;
    cancelEdit();
    const layer = layerOf(f.area, EDIT_STYLE);
    if (!layer) return;
    layer.addTo(map);
    layer.pm.enable();
    openForm(f, layer);
    render();
    map.fitBounds(layer.getBounds(), FIT);
  }

  function cancelEdit() {
    if (map.pm && map.pm.globalDrawModeEnabled()) map.pm.disableDraw();
    if (!editing) return;
    const {layer} = editing;
    editing = null;
    if (layer.pm) layer.pm.disable();
    layer.remove();
    formBox.replaceChildren();
    render();
  }

  function openForm(f, layer) {
    const group = h('select');
    const opts = groups.map((g) => [g.id, g.name]);
    if (ctx.user.role === 'admin') opts.unshift(['', 'All groups']);
    options(group, opts, f ? (f.groupId ?? '') : (opts[0] ? opts[0][0] : ''));
    const name = field('Name', 'name', h('input', {type: 'text', value: f ? f.name : '', autocomplete: 'off'}));
    const desc = field('Description', 'description', h('input', {type: 'text', value: f ? f.description || '' : ''}));
    const grp = field('Applies to', 'groupId', group);
    const shape = h('div.wp-field', null, h('span.wp-label', null, 'Shape'),
      h('span.wp-meta', null, 'drag the orange handles on the map to change it'),
      h('span.wp-field-error', {role: 'alert', 'data-field': 'area'}));
    const form = h('form.wp-form', {novalidate: true, 'aria-label': f ? `Edit ${f.name}` : 'New geofence'},
      h('h3', null, f ? `Edit ${f.name}` : 'New geofence'),
      name.row, desc.row, grp.row, shape,
      h('p.wp-form-error', {role: 'alert'}),
      h('div.wp-actions', null,
        h('button', {type: 'button', onclick: cancelEdit}, 'Cancel'),
        h('button.primary', {type: 'submit'}, 'Save')));
    form.addEventListener('submit', (ev) => { ev.preventDefault(); save(); });
    form.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') cancelEdit(); });
    editing = {fence: f, layer, form};
    formBox.replaceChildren(form);
    status.textContent = '';
    name.input.focus();

    async function save() {
      clearErrors(form);
      const body = geofenceBody({name: name.input.value, description: desc.input.value, groupId: group.value}, areaOf(layer));
      try {
        if (f) await ctx.api.put(`/api/geofences/${f.id}`, body);
        else await ctx.api.post('/api/geofences', body);
        ctx.toast(`Geofence ${body.name} saved`, 'ok');
        cancelEdit();
        await load();
      } catch (e) {
        showError(form, fieldError(e, FIELDS));
      }
    }
  }

  async function remove(f) {
    if (!(await confirmDialog(`Delete the geofence "${f.name}"?`))) return;
    try {
      await ctx.api.del(`/api/geofences/${f.id}`);
      ctx.toast(`Geofence ${f.name} deleted`, 'ok');
      if (editing && editing.fence && editing.fence.id === f.id) cancelEdit();
      await load();
    } catch (e) {
      ctx.toast(fieldError(e, []).message, 'error');
    }
  }

  // Escape also leaves draw mode (the plugin's own key handling aside)
  const onKey = (ev) => {
    if (ev.key === 'Escape' && map.pm && map.pm.globalDrawModeEnabled()) {
      map.pm.disableDraw();
      status.textContent = '';
    }
  };
  document.addEventListener('keydown', onKey);
  map.on('pm:create', onCreate);
  load();

  return {
    unmount() {
      alive = false;
      cancelEdit();
      map.off('pm:create', onCreate);
      document.removeEventListener('keydown', onKey);
      layers.remove();
      page.remove();
    },
  };
}
