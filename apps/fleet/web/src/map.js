// map.js — the shared Leaflet map: the offline base layer (world-atlas
// land and countries, the simulator's roads from /overlays/roads.geojson)
// or web.tile_url's tiles, and the live vehicles (vehlayer.js: one canvas,
// a dot with a heading arrow in its status colour per vehicle, clustered
// when zoomed out, gliding between fixes).

import { vehicleStatus } from './status.js';
import { createVehicleLayer } from './vehlayer.js';

const L = window.L;
const UNCLUSTER_ZOOM = 16;

async function baseLayers(map, server) {
  if (server.tileUrl) {
    L.tileLayer(server.tileUrl, { maxZoom: 19, attribution: '&copy; OpenStreetMap contributors' }).addTo(map);
    return;
  }
  map.getContainer().classList.add('offline-base');
  const renderer = L.canvas({ padding: 0.2 });
  try {
    const [land, countries] = await Promise.all([
      fetch('/vendor/world-atlas@2.0.2/land-50m.json').then((r) => r.json()),
      fetch('/vendor/world-atlas@2.0.2/countries-50m.json').then((r) => r.json()),
    ]);
    L.geoJSON(window.topojson.feature(land, land.objects.land), {
      renderer, interactive: false, style: { stroke: false, fillColor: '#f4f1ea', fillOpacity: 1 },
    }).addTo(map);
    L.geoJSON(window.topojson.mesh(countries, countries.objects.countries, (a, b) => a !== b), {
      renderer, interactive: false, style: { color: '#b9b3a6', weight: 1, fill: false },
    }).addTo(map);
  } catch { /* the roads below still show where vehicles are */ }
  try {
    const res = await fetch('/overlays/roads.geojson');
    if (res.ok) {
      L.geoJSON(await res.json(), {
        renderer, interactive: false,
        style: (f) => ({ color: '#c9c4b8', weight: f.properties?.class === 'arterial' ? 4 : 2.5, opacity: 1 }),
      }).addTo(map);
    }
  } catch { /* no roads exported */ }
}

export function createMap(el, store, server) {
  const map = L.map(el, { zoomControl: true, maxZoom: 19, minZoom: 2, preferCanvas: false, worldCopyJump: true, attributionControl: !!server.tileUrl })
    .setView([48.2082, 16.3738], 13);
  baseLayers(map, server);
  let selected = null, mode = 'live', fitted = false;
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
