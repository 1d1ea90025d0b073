// pages/replay.js — history replay (#/replay): a vehicle and a time range
// (default: today) -> the route (/api/reports/route?compact=true: time,
// position, speed and course, all the page draws), its trips and stops;
// the route drawn with the stops marked, a marker that moves along it,
// play/pause, 1–300x, a time slider, and the trip list (a click seeks to the
// trip and zooms to it). The live markers are hidden meanwhile
// (ctx.setMapMode('page')).
//
// The timing is replay_clock.js; this file only draws it, once per
// animation frame while the page is shown. `#/replay?device=ID` preselects a
// vehicle (e.g. from the shell's details panel).
import {h, ensureCss, options} from './dom.js';
import {fieldError} from './forms.js';
import {createReplay, SPEEDS, todayRange, toLocalInput, fromLocalInput} from './replay_clock.js';
import {fmtDistance, fmtDuration, fmtSpeed, fmtTime} from './report_util.js';

const ROUTE_LIMIT = 100000; // the API's maximum page of the route report

export function mount(root, ctx) {
  ensureCss();
  const {map, L} = ctx;
  ctx.setMapMode('page');
  let alive = true, replay = null, frame = 0, dragging = false, shownTrip = -2;
  const layers = L.featureGroup().addTo(map);
  const today = todayRange();

  const vehicle = h('select', {name: 'device', 'aria-label': 'Vehicle'});
  const from = h('input', {type: 'datetime-local', name: 'from', value: toLocalInput(today.from), 'aria-label': 'From'});
  const to = h('input', {type: 'datetime-local', name: 'to', value: toLocalInput(today.to), 'aria-label': 'To'});
  const play = h('button.primary.wp-play', {type: 'button', disabled: true, onclick: () => { replay.toggle(); draw(); }}, 'Play');
  const speed = h('select', {name: 'speed', 'aria-label': 'Speed'});
  options(speed, SPEEDS.map((s) => [s, `${s}×`]), 60);
  speed.addEventListener('change', () => replay && replay.setSpeed(Number(speed.value)));
  const slider = h('input.wp-slider', {type: 'range', min: 0, max: 1000, step: 1, value: 0, disabled: true, 'aria-label': 'Replay time'});
  slider.addEventListener('input', () => {
    dragging = true;
    replay.seek(replay.start + (slider.value / 1000) * (replay.end - replay.start));
    draw();
  });
  slider.addEventListener('change', () => { dragging = false; });
  const clock = h('output.wp-clock', {'aria-live': 'off'}, '—');
  const readout = h('span.wp-meta');
  const status = h('p.wp-status', {role: 'status'});
  const trips = h('ol.wp-list.wp-trips', {'aria-label': 'Trips'});
  const form = h('form.wp-toolbar', {onsubmit: (e) => { e.preventDefault(); load(); }},
    h('label', null, 'Vehicle ', vehicle), h('label', null, 'From ', from), h('label', null, 'To ', to),
    h('button', {type: 'submit'}, 'Load'));
  const page = h('section.wp-page.wp-side.wp-replay', {'aria-label': 'History replay'},
    h('div.wp-sticky', null, h('h2', null, 'History replay'), form,
      h('div.wp-controls', null, play, speed, clock, readout), slider, status),
    h('h3', null, 'Trips'), trips);
  root.append(page);

  function fillVehicles() {
    const keep = vehicle.value || new URLSearchParams(location.hash.split('?')[1] || '').get('device') || '';
    const devs = [...ctx.store.devices.values()].sort((a, b) => a.name.localeCompare(b.name));
    options(vehicle, [['', 'Choose a vehicle…'], ...devs.map((d) => [d.id, d.name])], keep);
  }
  fillVehicles();
  ctx.store.on('devices', fillVehicles);
  ctx.store.on('reset', fillVehicles);

  const marker = L.marker([0, 0], {
    // a disc with an arrow pointing along the course (the svg is rotated in draw())
    icon: L.divIcon({className: 'wp-replay-marker', iconSize: [30, 30], iconAnchor: [15, 15],
      html: '<svg viewBox="0 0 30 30" width="30" height="30" aria-hidden="true"><circle cx="15" cy="15" r="10" '
        + 'fill="#1d4ed8" stroke="#fff" stroke-width="2.5"/><path d="M15 1 L20 9 L10 9 Z" fill="#1d4ed8" stroke="#fff" '
        + 'stroke-width="1"/></svg>'}),
    keyboard: false, interactive: false,
  });

  async function load() {
    const deviceId = vehicle.value;
    const f = fromLocalInput(from.value), t = fromLocalInput(to.value);
    if (!deviceId) return say('Choose a vehicle.');
    if (!Number.isFinite(f) || !Number.isFinite(t) || t <= f) return say('Choose a range whose end is after its start.');
    const q = {deviceId, from: new Date(f).toISOString(), to: new Date(t).toISOString()};
    say('Loading…');
    try {
      const [route, ts, stops] = await Promise.all([
        ctx.api.get('/api/reports/route', {...q, compact: true, limit: ROUTE_LIMIT}),
        ctx.api.get('/api/reports/trips', q),
        ctx.api.get('/api/reports/stops', q),
      ]);
      if (!alive) return;
      show(route, ts, stops, f, t);
    } catch (e) {
      if (alive) say(fieldError(e, []).message);
    }
  }

  function show(route, ts, stops, f, t) {
    if (replay) replay.pause();
    replay = createReplay(route, ts, {from: f, to: t, speed: Number(speed.value)});
    layers.clearLayers();
    shownTrip = -2;
    const line = replay.track.map((p) => [p.lat, p.lon]);
    if (line.length) {
      L.polyline(line, {color: '#2563eb', weight: 4, opacity: 0.8}).addTo(layers);
      for (const s of stops) {
        L.circleMarker([s.latitude, s.longitude], {radius: 7, color: '#b91c1c', fillColor: '#fecaca', fillOpacity: 1, weight: 2})
          .bindTooltip(`Stop ${fmtTime(s.startTime)} – ${fmtTime(s.endTime)} (${fmtDuration(s.duration)})`)
          .addTo(layers);
      }
      marker.addTo(layers);
      map.fitBounds(L.latLngBounds(line), {padding: [30, 30], maxZoom: 16});
    }
    trips.replaceChildren(...ts.map((tr, i) => h('li', {dataset: {index: i}},
      h('button.wp-link', {type: 'button', onclick: () => seekTrip(i)},
        `${fmtTime(tr.startTime).slice(11, 16)}–${fmtTime(tr.endTime).slice(11, 16)}`),
      h('span.wp-meta', null, `${fmtDistance(tr.distance)}, ${fmtDuration(tr.duration)}, max ${fmtSpeed(tr.maxSpeed)}`))));
    if (!ts.length) trips.append(h('li.wp-empty', null, 'No trips in this range.'));
    play.disabled = slider.disabled = !line.length;
    say(line.length ? `${line.length} positions, ${ts.length} trips, ${stops.length} stops` : 'No positions in this range.');
    draw();
  }

  function seekTrip(i) {
    replay.seekTrip(i);
    const tr = replay.trips[i];
    const s = Date.parse(tr.startTime), e = Date.parse(tr.endTime);
    const pts = replay.track.filter((p) => p.t >= s && p.t <= e).map((p) => [p.lat, p.lon]);
    if (pts.length) map.fitBounds(L.latLngBounds(pts), {padding: [40, 40], maxZoom: 17});
    draw();
  }

  // one frame: the marker, the slider, the clock, the current trip
  function draw() {
    if (!replay) return;
    const t = replay.time();
    const p = replay.position();
    if (p) {
      marker.setLatLng([p.lat, p.lon]);
      const el = marker.getElement();
      if (el) el.firstChild.style.transform = `rotate(${p.course}deg)`;
      readout.textContent = `${fmtSpeed(p.speed)}`;
    }
    if (!dragging) slider.value = String(Math.round(replay.fraction() * 1000));
    clock.textContent = fmtTime(new Date(t).toISOString());
    const playing = replay.playing;
    play.textContent = playing ? 'Pause' : 'Play';
    play.setAttribute('aria-pressed', String(playing));
    const ti = replay.tripIndex();
    if (ti !== shownTrip) {
      shownTrip = ti;
      for (const li of trips.children) li.classList.toggle('wp-current', li.dataset.index === String(ti));
    }
  }
  let wasPlaying = false;
  function tick() {
    if (!alive) return;
    const playing = !!replay && replay.playing;
    if (playing || wasPlaying) draw(); // one more frame after the end: the Play label
    wasPlaying = playing;
    frame = requestAnimationFrame(tick);
  }
  frame = requestAnimationFrame(tick);

  function say(text) {
    status.textContent = text;
  }

  if (vehicle.value && new URLSearchParams(location.hash.split('?')[1] || '').get('device')) load();

  return {
    unmount() {
      alive = false;
      cancelAnimationFrame(frame);
      ctx.store.off('devices', fillVehicles);
      ctx.store.off('reset', fillVehicles);
      layers.remove();
      ctx.setMapMode('live');
      page.remove();
    },
  };
}
