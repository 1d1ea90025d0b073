// apps/fleet/web/src/pages/report_util.js — the reports page without the
// DOM: which request a selection makes, the table's columns and how their
// values read, and the CSV file's name.
//
// Units: the API speaks knots, metres and milliseconds (Traccar's units);
// the tables show km/h, km and h/min, which is what dispatchers read. The
// CSV download is the API's own CSV (?format=csv), unconverted, so scripts
// get the documented units.

export const KINDS = ['trips', 'stops', 'summary'];

const KMH_PER_KN = 1.852;

export function fmtSpeed(kn) {
  const n = Number(kn);
  return Number.isFinite(n) ? `${Math.round(n * KMH_PER_KN)} km/h` : '';
}

export function fmtDistance(m) {
  const n = Number(m);
  if (!Number.isFinite(n)) return '';
  return n < 1000 ? `${Math.round(n)} m` : `${(n / 1000).toFixed(1)} km`;
}

export function fmtDuration(ms) {
  const n = Number(ms);
  if (!Number.isFinite(n) || n < 0) return '';
  const min = Math.round(n / 60000);
  if (min < 60) return `${min} min`;
  return `${Math.floor(min / 60)} h ${String(min % 60).padStart(2, '0')} min`;
}

/** ISO time -> local "2026-12-06 14:05:09". */
export function fmtTime(iso) {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return '';
  const d = new Date(ms), p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

const num = (n, d) => (Number.isFinite(Number(n)) ? Number(n).toFixed(d) : '');

/** The columns of each kind: [header, row -> text]. */
export const COLUMNS = {
  trips: [
    ['Vehicle', (r) => r.deviceName || String(r.deviceId)],
    ['Start', (r) => fmtTime(r.startTime)],
    ['End', (r) => fmtTime(r.endTime)],
    ['Duration', (r) => fmtDuration(r.duration)],
    ['Distance', (r) => fmtDistance(r.distance)],
    ['Avg speed', (r) => fmtSpeed(r.averageSpeed)],
    ['Max speed', (r) => fmtSpeed(r.maxSpeed)],
    ['From', (r) => `${num(r.startLat, 5)}, ${num(r.startLon, 5)}`],
    ['To', (r) => `${num(r.endLat, 5)}, ${num(r.endLon, 5)}`],
  ],
  stops: [
    ['Vehicle', (r) => r.deviceName || String(r.deviceId)],
    ['Start', (r) => fmtTime(r.startTime)],
    ['End', (r) => fmtTime(r.endTime)],
    ['Duration', (r) => fmtDuration(r.duration)],
    ['Engine on', (r) => fmtDuration(r.engineHours)],
    ['Where', (r) => `${num(r.latitude, 5)}, ${num(r.longitude, 5)}`],
  ],
  summary: [
    ['Vehicle', (r) => r.deviceName || String(r.deviceId)],
    ['Start', (r) => fmtTime(r.startTime)],
    ['End', (r) => fmtTime(r.endTime)],
    ['Distance', (r) => fmtDistance(r.distance)],
    ['Avg speed', (r) => fmtSpeed(r.averageSpeed)],
    ['Max speed', (r) => fmtSpeed(r.maxSpeed)],
    ['Engine on', (r) => fmtDuration(r.engineHours)],
  ],
};

/**
 * The request for a selection {kind, deviceId, groupId, from, to} (from/to
 * in ms): {path, query} for ctx.api.get, or {error, field} when the
 * selection is incomplete (said before asking the server).
 */
export function reportRequest(sel, format) {
  if (!KINDS.includes(sel.kind)) return {error: `unknown report ${sel.kind}`, field: 'kind'};
  const query = {};
  if (sel.deviceId) query.deviceId = String(sel.deviceId);
  else if (sel.groupId) query.groupId = String(sel.groupId);
  else return {error: 'choose a vehicle or a group', field: 'target'};
  if (!Number.isFinite(sel.from)) return {error: 'choose a start time', field: 'from'};
  if (!Number.isFinite(sel.to)) return {error: 'choose an end time', field: 'to'};
  if (sel.to <= sel.from) return {error: 'the end must be after the start', field: 'to'};
  query.from = new Date(sel.from).toISOString();
  query.to = new Date(sel.to).toISOString();
  if (format) query.format = format;
  return {path: `/api/reports/${sel.kind}`, query};
}

/** Text safe in a file name: letters, digits, '-', '_' and '.'. */
function slug(s) {
  return String(s).trim().replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'x';
}

function day(ms) {
  const d = new Date(ms), p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/** "trips_Van-7_2026-12-06_2026-12-07.csv" (one day: one date). */
export function csvFileName(kind, label, from, to) {
  const a = day(from), b = day(to);
  return `${slug(kind)}_${slug(label)}_${a === b ? a : `${a}_${b}`}.csv`;
}
