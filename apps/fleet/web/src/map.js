// map.js — the shared Leaflet map: the offline base layer (world-atlas
// land and countries, the simulator's roads from /overlays/roads.geojson)
// or web.tile_url's tiles, and the live layer: one marker per vehicle with a
// heading arrow in its status colour, clustered when zoomed out, gliding
// between fixes while on screen.

import { vehicleStatus } from './status.js';

const L = window.L;
const GLIDE_MS = 900;
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

function icon(status, course, selected) {
  return L.divIcon({
    className: `veh s-${status}${selected ? ' selected' : ''}`,
    html: `<i style="transform:rotate(${Math.round(course ?? 0)}deg)"></i>`,
    iconSize: [22, 22], iconAnchor: [11, 11],
  });
}

export function createMap(el, store, server) {
  const map = L.map(el, { zoomControl: true, maxZoom: 19, minZoom: 2, preferCanvas: false, worldCopyJump: true, attributionControl: !!server.tileUrl })
    .setView([48.2082, 16.3738], 13);
  baseLayers(map, server);
  const cluster = L.markerClusterGroup({
    chunkedLoading: true, disableClusteringAtZoom: UNCLUSTER_ZOOM, showCoverageOnHover: false,
    maxClusterRadius: 50, spiderfyOnMaxZoom: false,
  });
  cluster.addTo(map);
  const markers = new Map(); // deviceId -> {marker, status, course}
  const gliding = new Map(); // deviceId -> {from, to, t0}
  let selected = null, mode = 'live', fitted = false, glideFrame = 0;
  const listeners = new Set();
  const now = () => Date.now();

  const glide = (t) => {
    glideFrame = 0;
    for (const [id, g] of gliding) {
      const k = Math.min(1, (t - g.t0) / GLIDE_MS);
      const lat = g.from.lat + (g.to.lat - g.from.lat) * k, lng = g.from.lng + (g.to.lng - g.from.lng) * k;
      markers.get(id)?.marker.setLatLng([lat, lng]);
      if (k >= 1) gliding.delete(id);
    }
    if (gliding.size) glideFrame = requestAnimationFrame(glide);
  };

  function update(ids) {
    const add = [], bounds = map.getBounds().pad(0.1), unclustered = map.getZoom() >= UNCLUSTER_ZOOM;
    const t0 = performance.now();
    for (const id of ids) {
      const p = store.positions.get(id), d = store.devices.get(id);
      if (!p || !d) continue;
      const status = vehicleStatus(d, p, now(), server);
      const to = L.latLng(p.latitude, p.longitude);
      let m = markers.get(id);
      if (!m) {
        const marker = L.marker(to, { icon: icon(status, p.course, id === selected), keyboard: false, title: d.name });
        marker.on('click', () => select(id));
        m = { marker, status, course: p.course };
        markers.set(id, m);
        add.push(marker);
        continue;
      }
      if (m.status !== status || Math.abs((m.course ?? 0) - (p.course ?? 0)) >= 5) {
        m.status = status;
        m.course = p.course;
        m.marker.setIcon(icon(status, p.course, id === selected));
      }
      const from = m.marker.getLatLng();
      if (from.equals(to)) continue;
      if (unclustered && bounds.contains(to) && mode === 'live') {
        gliding.set(id, { from, to, t0 });
      } else {
        gliding.delete(id);
        m.marker.setLatLng(to);
      }
    }
    if (add.length) cluster.addLayers(add);
    if (gliding.size && !glideFrame) glideFrame = requestAnimationFrame(glide);
    if (!fitted && markers.size) {
      fitted = true;
      const b = L.latLngBounds([...markers.values()].map((x) => x.marker.getLatLng()));
      if (b.isValid()) map.fitBounds(b.pad(0.05), { maxZoom: 15 });
    }
  }

  function select(id) {
    const old = selected;
    selected = id;
    for (const x of [old, id]) {
      const m = markers.get(x);
      if (m) m.marker.setIcon(icon(m.status, m.course, x === selected));
    }
    for (const fn of listeners) fn(id);
  }

  store.on('reset', () => { cluster.clearLayers(); markers.clear(); gliding.clear(); });
  // one pass per batch over the union of changed devices and positions
  // (a fix usually changes both)
  // ('applied' ends every batch, inside the live-update measure)
  let pending = new Set();
  const later = (ids) => { for (const id of ids) pending.add(id); };
  store.on('applied', () => { if (pending.size) { const p = pending; pending = new Set(); update(p); } });
  store.on('positions', (changed) => later(changed.size ? changed.keys() : store.positions.keys()));
  store.on('devices', (changed) => later(changed.keys()));

  return {
    map, cluster,
    select, get selected() { return selected; },
    onSelect(fn) { listeners.add(fn); return () => listeners.delete(fn); },
    markerOf: (id) => markers.get(id)?.marker,
    setMode(m) {
      mode = m;
      if (m === 'page' && map.hasLayer(cluster)) map.removeLayer(cluster);
      if (m === 'live' && !map.hasLayer(cluster)) map.addLayer(cluster);
    },
  };
}
