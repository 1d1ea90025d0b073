// vehlayer.js — the live vehicles on one canvas: a dot in the status colour
// with a heading arrow per vehicle, clusters with counts when zoomed out
// (supercluster, re-indexed at most once a second), the selected vehicle
// ringed and on top. Only what is in view is drawn; vehicles glide to each
// new fix. A Leaflet layer: add it to the map to show it, remove it to hide.
//
// Why a canvas: 10,000 DOM markers in leaflet.markercluster cost 50–250 ms
// per live update (every moved marker re-filed one by one, a new divIcon
// per status change); here a live update only writes numbers, and a frame
// draws the few hundred things in view (bench/results/dashboard-*.md).

import { glideAt, moveTo, clusterOptions, clusterStyle, hitTest, inBox, RateLimit, FrameCoalescer } from './vehmath.js';

const L = window.L;
const COLOUR = { moving: '#1a7f37', idle: '#bf8700', stopped: '#0969da', offline: '#6e7781' };
const ACCENT = '#1f6feb';
const R = 11; // a vehicle's radius with its white rim (the old 22 px marker)
const REINDEX_MS = 1000;

// opts: unclusterZoom (vehicles drawn one by one from this zoom on),
// onClick(id), nameOf(id)
export function createVehicleLayer(opts) {
  const vehicles = new Map(); // id -> {lat, lng, fromLat, fromLng, t0, status, course, f (its GeoJSON feature)}
  let map = null, canvas = null, g = null, items = [], selected = null;
  let index = null, indexDirty = true;
  const frame = new FrameCoalescer(() => draw());
  const reindex = new RateLimit(() => {
    if (!map || map.getZoom() >= opts.unclusterZoom) return; // not needed until zoomed out
    performance.mark('cluster-index-start');
    const feats = [];
    for (const v of vehicles.values()) {
      v.f.geometry.coordinates[0] = v.lng;
      v.f.geometry.coordinates[1] = v.lat;
      feats.push(v.f);
    }
    index = new window.Supercluster(clusterOptions(opts.unclusterZoom)).load(feats);
    indexDirty = false;
    performance.measure('cluster-index', 'cluster-index-start');
    frame.request();
  }, REINDEX_MS);

  function drawVehicle(v, x, y, isSelected) {
    g.beginPath();
    g.arc(x, y, R + 0.5, 0, 2 * Math.PI);
    g.fillStyle = 'rgba(0,0,0,0.35)';
    g.fill();
    g.beginPath();
    g.arc(x, y, R - 0.5, 0, 2 * Math.PI);
    g.fillStyle = '#fff';
    g.fill();
    const c = COLOUR[v.status] ?? COLOUR.offline;
    g.beginPath();
    g.arc(x, y, R - 2, 0, 2 * Math.PI);
    g.fillStyle = c;
    g.fill();
    if (v.status === 'moving' || v.status === 'idle') { // the heading arrow, just outside the dot
      const a = ((v.course ?? 0) * Math.PI) / 180, sin = Math.sin(a), cos = Math.cos(a);
      const pt = (px, py) => [x + px * cos - py * sin, y + px * sin + py * cos];
      g.beginPath();
      g.moveTo(...pt(0, -R - 7));
      g.lineTo(...pt(5, -R + 1));
      g.lineTo(...pt(-5, -R + 1));
      g.closePath();
      g.fill();
    }
    if (isSelected) {
      g.beginPath();
      g.arc(x, y, R + 2, 0, 2 * Math.PI);
      g.lineWidth = 3;
      g.strokeStyle = ACCENT;
      g.stroke();
    }
  }

  function drawCluster(n, x, y) {
    const s = clusterStyle(n);
    g.beginPath();
    g.arc(x, y, s.r, 0, 2 * Math.PI);
    g.fillStyle = s.halo;
    g.fill();
    g.beginPath();
    g.arc(x, y, s.rCore, 0, 2 * Math.PI);
    g.fillStyle = s.core;
    g.fill();
    g.fillStyle = '#1b1f24';
    g.fillText(s.label, x, y + 0.5);
  }

  // one frame: everything in view, clusters below unclusterZoom
  function draw() {
    if (!map) return;
    performance.mark('map-draw-start');
    const size = map.getSize(), dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(size.x * dpr) || canvas.height !== Math.round(size.y * dpr)) {
      canvas.width = Math.round(size.x * dpr);
      canvas.height = Math.round(size.y * dpr);
      canvas.style.width = `${size.x}px`;
      canvas.style.height = `${size.y}px`;
    }
    L.DomUtil.setPosition(canvas, map.containerPointToLayerPoint([0, 0]));
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, size.x, size.y);
    g.font = 'bold 12px "Helvetica Neue", Arial, Helvetica, sans-serif';
    g.textAlign = 'center';
    g.textBaseline = 'middle';
    items = [];
    const t = performance.now(), zoom = map.getZoom();
    const pb = map.getPixelBounds(), pad = R + 8; // what is in view, with a margin for the dot and arrow
    const nw = map.unproject(pb.min.subtract([pad, pad]), zoom), se = map.unproject(pb.max.add([pad, pad]), zoom);
    const box = [nw.lng, se.lat, se.lng, nw.lat];
    let moving = false, sel = null;
    const clustered = zoom < opts.unclusterZoom && index;
    const one = (id, v) => { // vehicles glide only when unclustered (few are in view)
      const [lat, lng, gliding] = clustered ? [v.lat, v.lng, false] : glideAt(v, t);
      if (!inBox(lat, lng, box)) return;
      moving ||= gliding;
      const p = map.latLngToContainerPoint([lat, lng]);
      if (id === selected) { sel = { id, v, p }; return; }
      drawVehicle(v, p.x, p.y, false);
      items.push({ x: p.x, y: p.y, r: R, id });
    };
    if (!clustered) {
      for (const [id, v] of vehicles) one(id, v);
      if (zoom < opts.unclusterZoom) reindex.request(); // no index yet: one by one until there is
    } else {
      for (const f of index.getClusters(box, Math.floor(zoom))) {
        if (f.properties.cluster) {
          const [lng, lat] = f.geometry.coordinates, p = map.latLngToContainerPoint([lat, lng]);
          drawCluster(f.properties.point_count, p.x, p.y);
          items.push({ x: p.x, y: p.y, r: 20, cluster: f.properties.cluster_id, n: f.properties.point_count, lat, lng });
        } else {
          const v = vehicles.get(f.properties.id);
          if (v) one(f.properties.id, v);
        }
      }
      const v = vehicles.get(selected); // the selected vehicle shows even inside a cluster
      if (v && !sel) one(selected, v);
    }
    if (sel) {
      drawVehicle(sel.v, sel.p.x, sel.p.y, true);
      items.push({ x: sel.p.x, y: sel.p.y, r: R, id: sel.id });
    }
    if (moving) frame.request();
    canvas.hits = items; // what a click can hit (the end-to-end test reads it too)
    performance.measure('map-draw', 'map-draw-start');
  }

  const onClick = (e) => {
    const hit = hitTest(items, e.containerPoint.x, e.containerPoint.y);
    if (!hit) return;
    if (hit.id !== undefined) opts.onClick?.(hit.id);
    else map.setView([hit.lat, hit.lng], Math.min(index.getClusterExpansionZoom(hit.cluster), opts.unclusterZoom));
  };
  const onHover = (e) => {
    const hit = hitTest(items, e.containerPoint.x, e.containerPoint.y);
    const el = map.getContainer();
    el.classList.toggle('over-vehicle', !!hit);
    const title = !hit ? '' : hit.id !== undefined ? (opts.nameOf?.(hit.id) ?? '') : `${hit.n} vehicles (click to zoom in)`;
    if (el.title !== title) el.title = title;
  };
  const onZoom = () => { if (indexDirty || !index) reindex.request(); frame.request(); };
  const redraw = () => frame.request();

  const Layer = L.Layer.extend({
    onAdd(m) {
      map = m;
      if (!map.getPane('vehicles')) map.createPane('vehicles').style.zIndex = 610; // above the marker pane
      canvas = L.DomUtil.create('canvas', 'vehicles leaflet-zoom-hide', map.getPane('vehicles'));
      g = canvas.getContext('2d');
      map.on('move resize viewreset', redraw);
      map.on('zoomend', onZoom);
      map.on('click', onClick);
      map.on('mousemove', onHover);
      indexDirty = true;
      reindex.request();
      frame.request();
    },
    onRemove() {
      map.off('move resize viewreset', redraw);
      map.off('zoomend', onZoom);
      map.off('click', onClick);
      map.off('mousemove', onHover);
      map.getContainer().classList.remove('over-vehicle');
      canvas.remove();
      frame.cancel();
      reindex.cancel();
      map = canvas = g = null;
      items = [];
    },
  });
  const layer = new Layer();

  // a vehicle's new state: position (glides there), status, course
  let selChanged = false;
  layer.put = (id, lat, lng, status, course, t = performance.now()) => {
    let v = vehicles.get(id);
    if (!v) {
      v = { status, course, f: { type: 'Feature', properties: { id }, geometry: { type: 'Point', coordinates: [lng, lat] } } };
      vehicles.set(id, v);
      indexDirty = true;
    }
    v.status = status;
    v.course = course;
    if (moveTo(v, lat, lng, t)) indexDirty = true;
    if (id === selected) selChanged = true;
  };
  // after a batch of put(): unclustered, draw in the next frame (vehicles
  // glide); clustered, the index says what is drawn, so redraw when it is
  // rebuilt (at most once a second) or the selected vehicle changed
  layer.changed = () => {
    if (!map) return;
    if (map.getZoom() >= opts.unclusterZoom || !index || selChanged) frame.request();
    selChanged = false;
    if (indexDirty && map.getZoom() < opts.unclusterZoom) reindex.request();
  };
  layer.clear = () => { vehicles.clear(); index = null; indexDirty = true; layer.changed(); };
  layer.select = (id) => { selected = id; frame.request(); };
  layer.positionOf = (id) => { const v = vehicles.get(id); return v ? L.latLng(v.lat, v.lng) : null; };
  layer.bounds = () => {
    let s = 90, w = 180, n = -90, e = -180;
    for (const v of vehicles.values()) {
      s = Math.min(s, v.lat); n = Math.max(n, v.lat); w = Math.min(w, v.lng); e = Math.max(e, v.lng);
    }
    return L.latLngBounds([s, w], [n, e]);
  };
  layer.size = () => vehicles.size;
  return layer;
}
