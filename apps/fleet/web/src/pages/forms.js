// apps/fleet/web/src/pages/forms.js — what the devices and geofences pages
// send and how the API's answer maps back onto their forms. No DOM here.
//
// The API answers a bad field with {"error": "...", "field": "<name>"}
// (docs/fleet-api.md, "Errors"); the page shows the message next to that
// field. Errors that name no field (403, 404, 409 on something else, 500,
// the network) go to the form's general message line.

/**
 * Where an error from ctx.api belongs in a form with these field names.
 * err: an ApiError {status, message, body} or any Error.
 * Returns {field, message}: field is one of `fields`, or null (general).
 */
export function fieldError(err, fields) {
  const body = err && err.body;
  const message = (body && typeof body.error === 'string' && body.error) || (err && err.message) || 'request failed';
  let field = body && typeof body.field === 'string' ? body.field : null;
  if (field && !fields.includes(field)) field = null;
  return {field, message: field ? message : describeStatus(err && err.status, message)};
}

/** A general message for an error status, keeping the API's own words. */
export function describeStatus(status, message) {
  switch (status) {
    case 401: return 'Your session has ended: sign in again.';
    case 403: return `Not allowed: ${message}`;
    case 404: return `Not found: ${message}`;
    case 409: return `Conflict: ${message}`;
    case 429: return `Too many requests: ${message}`;
    default:
      if (status >= 500) return `The server failed (${status}): ${message}`;
      return message;
  }
}

/** The text of an optional input: '' (or only spaces) -> undefined. */
function opt(v) {
  const s = v == null ? '' : String(v).trim();
  return s === '' ? undefined : s;
}

/**
 * A number input's value for the API: '' -> null (the API's "none"), a
 * number -> that number, anything else as typed (the API names the field
 * and says it must be a number).
 */
export function numberOrRaw(v) {
  const s = opt(v);
  if (s === undefined) return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : s;
}

/**
 * The body of POST/PUT /api/devices from the form's values
 * {name, uniqueId, groupId, category, speedLimit, disabled}.
 * Strings are trimmed; the API validates (and names the field).
 */
export function deviceBody(v) {
  const body = {
    name: v.name == null ? '' : String(v.name).trim(),
    uniqueId: v.uniqueId == null ? '' : String(v.uniqueId).trim(),
    groupId: numberOrRaw(v.groupId),
    speedLimit: numberOrRaw(v.speedLimit),
  };
  const cat = opt(v.category);
  if (cat !== undefined) body.category = cat;
  if (v.disabled !== undefined) body.disabled = !!v.disabled;
  return body;
}

/** The form's values for a device from the API (for editing). */
export function deviceValues(d) {
  return {
    name: d.name || '',
    uniqueId: d.uniqueId || '',
    groupId: d.groupId == null ? '' : String(d.groupId),
    category: d.category || '',
    speedLimit: d.speedLimit ? String(d.speedLimit) : '',
    disabled: !!d.disabled,
  };
}

// ---- geofence areas: Leaflet shapes <-> the API's GeoJSON -----------------------

/** A circle (centre {lat, lng}, radius m) as the API's area. */
export function circleArea(center, radius) {
  return {type: 'Point', coordinates: [center.lng, center.lat], radius: Math.round(radius * 10) / 10};
}

/**
 * A polygon's outer ring (Leaflet latlngs [{lat, lng}], open or closed) as
 * the API's area: [lng, lat] pairs, the ring closed as GeoJSON wants.
 */
export function polygonArea(latlngs) {
  const ring = latlngs.map((p) => [p.lng, p.lat]);
  if (ring.length) {
    const a = ring[0], z = ring[ring.length - 1];
    if (a[0] !== z[0] || a[1] !== z[1]) ring.push([a[0], a[1]]);
  }
  return {type: 'Polygon', coordinates: [ring]};
}

/**
 * The API's area as something to draw: {kind: 'circle', center: [lat, lng],
 * radius} or {kind: 'polygon', rings: [[[lat, lng], ...], ...]} (rings open,
 * as Leaflet takes them), or null for what is neither. A Feature is unwrapped.
 */
export function areaShape(area) {
  if (area && area.type === 'Feature') area = area.geometry;
  if (!area || !Array.isArray(area.coordinates)) return null;
  if (area.type === 'Point' && Number(area.radius) > 0) {
    const [lng, lat] = area.coordinates;
    return {kind: 'circle', center: [lat, lng], radius: Number(area.radius)};
  }
  if (area.type === 'Polygon') {
    const rings = area.coordinates.map((ring) => {
      const r = ring.map(([lng, lat]) => [lat, lng]);
      if (r.length > 1) {
        const a = r[0], z = r[r.length - 1];
        if (a[0] === z[0] && a[1] === z[1]) r.pop();
      }
      return r;
    });
    return {kind: 'polygon', rings};
  }
  return null;
}

/** A short description of an area for the list: "circle, 150 m" / "polygon, 5 corners". */
export function areaSummary(area) {
  const s = areaShape(area);
  if (!s) return 'unknown shape';
  if (s.kind === 'circle') return `circle, ${Math.round(s.radius)} m`;
  return `polygon, ${s.rings[0] ? s.rings[0].length : 0} corners`;
}

/** The body of POST/PUT /api/geofences: {name, description, groupId, area?}. */
export function geofenceBody(v, area) {
  const body = {
    name: v.name == null ? '' : String(v.name).trim(),
    description: v.description == null ? '' : String(v.description).trim(),
    groupId: numberOrRaw(v.groupId),
  };
  if (area) body.area = area;
  return body;
}
