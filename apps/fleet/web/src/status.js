// status.js — pure rules, no DOM: a vehicle's status, "x s ago", the
// reconnect backoff. Unit tests: tests/web/status.test.mjs.

export const STATUSES = ['moving', 'idle', 'stopped', 'offline'];

// A vehicle's status from its device (live fields of GET /api/devices and
// the socket) and latest position:
//   offline  the server says it is not online, or its last fix is older than
//            offlineTimeout (ms) — the server's own timer may lag a little;
//   moving   speed (knots) at least movingSpeed;
//   idle     not moving with the ignition on (device.ignition, else the
//            position's attributes.ignition);
//   stopped  everything else.
export function vehicleStatus(device, position, now, cfg = {}) {
  const movingSpeed = cfg.movingSpeed ?? 1.5;
  const offlineTimeout = cfg.offlineTimeout ?? 600000;
  if (!device || device.status !== 'online') return 'offline';
  const last = Date.parse(position?.fixTime ?? device.lastUpdate ?? '');
  if (!Number.isFinite(last) || now - last > offlineTimeout) return 'offline';
  if (position && position.speed >= movingSpeed) return 'moving';
  if (!position && device.motion === 'moving') return 'moving';
  const ignition = device.ignition ?? position?.attributes?.ignition;
  return ignition === true ? 'idle' : 'stopped';
}

// "4 s ago", "3 min ago", "2 h ago", "5 d ago"; "never" without a time.
export function ago(time, now) {
  const t = typeof time === 'number' ? time : Date.parse(time ?? '');
  if (!Number.isFinite(t)) return 'never';
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// Delay before reconnect attempt n (0-based): 0.5 s doubling to at most
// 30 s, with up to 25 % less at random (rand in [0, 1)) so that many pages
// do not come back at the same instant.
export function backoff(attempt, rand = Math.random) {
  const base = Math.min(30000, 500 * 2 ** Math.min(attempt, 16));
  return Math.round(base * (1 - 0.25 * rand()));
}

export const knotsToKmh = (kn) => kn * 1.852;
