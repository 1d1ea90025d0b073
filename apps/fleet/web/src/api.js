// api.js — the REST API from the page: JSON in and out, the CSRF header on
// every change (docs/fleet-api.md), errors as ApiError {status, message, body}.

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

function url(path, query) {
  const u = new URL(path.startsWith('/') ? path : '/api/' + path, location.origin);
  if (query) {
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null) continue;
      for (const one of Array.isArray(v) ? v : [v]) u.searchParams.append(k, String(one));
    }
  }
  return u.pathname + u.search;
}

async function request(method, path, { query, body, text } = {}) {
  const headers = { Accept: text ? 'text/csv' : 'application/json' };
  if (method !== 'GET') headers['X-Requested-With'] = 'weft-dashboard';
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url(path, query), { method, headers, body: payload, credentials: 'same-origin' });
  } catch (e) {
    throw new ApiError(0, 'the server cannot be reached', null);
  }
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    const msg = data && typeof data === 'object' && data.error ? data.error : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, msg, typeof data === 'object' ? data : null);
  }
  return data;
}

// get(path, query, {text: true}) answers the body as text (CSV); post(path,
// body, query) with the query string too (POST /api/events/ack's filter).
export const api = {
  get: (path, query, opts = {}) => request('GET', path, { query, text: opts.text }),
  post: (path, body, query) => request('POST', path, { body, query }),
  put: (path, body) => request('PUT', path, { body }),
  del: (path) => request('DELETE', path),
};
