// map.js — the shared Leaflet map: the offline base layer (world-atlas
// land and countries, the simulator's roads from /overlays/roads.geojson)
// or web.tile_url's tiles, and the live vehicles (vehlayer.js: one canvas,
// a dot with a heading arrow in its status colour per vehicle, clustered
// when zoomed out, gliding between fixes).

import { vehicleStatus } from './status.js';
import { createVehicleLayer } from './vehlayer.js';

const L = window.L;
const UNCLUSTER_ZOOM = 16;

// The offline base: the simulator's roads at once (small: they show where
// vehicles drive), Natural Earth land and borders once the first vehicles
// are drawn (whenAtlas), since projecting their 1:50m outlines is the
// largest single cost of the first load. None of it is editable (pmIgnore:
// Leaflet-Geoman would otherwise set up every road segment).
async function baseLayers(map, server, whenAtlas) {
  if (server.tileUrl) {
    L.tileLayer(server.tileUrl, { maxZoom: 19, attribution: '&copy; OpenStreetMap contributors' }).addTo(map);
    return;
  }
  map.getContainer().classList.add('offline-base', 'atlas-pending'); // land colour until the outlines come
  const renderer = L.canvas({ padding: 0.2 });
  const land = map.createPane('land');
  land.style.zIndex = 350; // below the roads (overlay pane, 400)
  const landRenderer = L.canvas({ padding: 0.2, pane: 'land' });
  const atlas = whenAtlas.then(() => Promise.all([
    fetch('/vendor/world-atlas@2.0.2/land-50m.json').then((r) => r.json()),
    fetch('/vendor/world-atlas@2.0.2/countries-50m.json').then((r) => r.json()),
  ])).then(([landTopo, countries]) => {
    L.geoJSON(window.topojson.feature(landTopo, landTopo.objects.land), {
      renderer: landRenderer, interactive: false, pmIgnore: true, style: { stroke: false, fillColor: '#f4f1ea', fillOpacity: 1 },
    }).addTo(map);
    L.geoJSON(window.topojson.mesh(countries, countries.objects.countries, (a, b) => a !== b), {
      renderer: landRenderer, interactive: false, pmIgnore: true, style: { color: '#b9b3a6', weight: 1, fill: false },
    }).addTo(map);
  }).catch(() => { /* the roads still show where vehicles are */ })
    .finally(() => map.getContainer().classList.remove('atlas-pending'));
  try {
    const res = await fetch('/overlays/roads.geojson');
    if (res.ok) {
      L.geoJSON(mergeByClass(await res.json()), {
        renderer, interactive: false, pmIgnore: true,
        style: (f) => ({ color: '#c9c4b8', weight: f.properties?.class === 'arterial' ? 4 : 2.5, opacity: 1 }),
      }).addTo(map);
    }
  } catch { /* no roads exported */ }
  await atlas;
}

// One MultiLineString per road class instead of a layer per segment.
function mergeByClass(fc) {
  const by = new Map();
  for (const f of fc.features ?? []) {
    const g = f.geometry, k = f.properties?.class ?? '';
    if (!g) continue;
    const lines = g.type === 'LineString' ? [g.coordinates] : g.type === 'MultiLineString' ? g.coordinates : null;
    if (!lines) continue;
    if (!by.has(k)) by.set(k, { type: 'Feature', properties: { class: k }, geometry: { type: 'MultiLineString', coordinates: [] } });
    by.get(k).geometry.coordinates.push(...lines);
  }
  return { type: 'FeatureCollection', features: [...by.values()] };
}

export function createMap(el, store, server) {
  const map = L.map(el, { zoomControl: true, maxZoom: 19, minZoom: 2, preferCanvas: false, worldCopyJump: true, attributionControl: !!server.tileUrl })
    .setView([48.2082, 16.3738], 13);
  // Leaflet measures its container on window resizes only, but the page's
  // layout changes it too (the side panel's width and what a page puts in
  // it): a size left stale puts fitBounds and the edit handles off screen
  new ResizeObserver(() => map.invalidateSize()).observe(el);
  let selected = null, mode = 'live', fitted = false, firstDrawn;
  // the world outlines after the first vehicles are drawn, or after 2 s without any
  const drawn = new Promise((res) => { firstDrawn = res; setTimeout(res, 2000); });
  baseLayers(map, server, drawn.then(() => new Promise((res) => requestAnimationFrame(() => setTimeout(res, 0)))));
  const listeners = new Set();
  const layer = createVehicleLayer({
    unclusterZoom: UNCLUSTER_ZOOM,
    onClick: (id) => select(id),
    nameOf: (id) => store.devices.get(id)?.name,
  }).addTo(map);

  function update(ids) {
    const t = performance.now(), now = Date.now();
    for (const id of ids) {
      const p = store.positions.get(id), d = store.devices.get(id);
      if (!p || !d) continue;
      layer.put(id, p.latitude, p.longitude, vehicleStatus(d, p, now, server), p.course, t);
    }
    layer.changed();
    if (!fitted && layer.size()) {
      fitted = true;
      firstDrawn();
      const b = layer.bounds();
      if (b.isValid()) map.fitBounds(b.pad(0.05), { maxZoom: 15 });
    }
  }

  function select(id) {
    selected = id;
    layer.select(id);
    for (const fn of listeners) fn(id);
  }

  store.on('reset', () => layer.clear());
  // one pass per batch over the union of changed devices and positions
  // (a fix usually changes both)
  // ('applied' ends every batch, inside the live-update measure)
  let pending = new Set();
  const later = (ids) => { for (const id of ids) pending.add(id); };
  store.on('applied', () => { if (pending.size) { const p = pending; pending = new Set(); update(p); } });
  store.on('positions', (changed) => later(changed.size ? changed.keys() : store.positions.keys()));
  store.on('devices', (changed) => later(changed.keys()));

  return {
    map, vehicles: layer,
    select, get selected() { return selected; },
    onSelect(fn) { listeners.add(fn); return () => listeners.delete(fn); },
    positionOf: (id) => layer.positionOf(id),
    setMode(m) {
      mode = m;
      if (mode === 'page' && map.hasLayer(layer)) map.removeLayer(layer);
      if (mode === 'live' && !map.hasLayer(layer)) map.addLayer(layer);
    },
  };
}
