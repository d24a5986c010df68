// The issuer service's JSON API, as the page calls it: same-origin requests with the session
// cookie and the CSRF header; errors thrown as `Error`s with the service's catalogue `code`
// (and `rows` for an import's bad rows).

import { coded } from './errors.js';

const CSRF_HEADER = 'x-vsc-request';

export async function api(method, path, body, contentType = 'application/json') {
  const headers = { [CSRF_HEADER]: '1', accept: 'application/json' };
  let payload;
  if (body !== undefined) {
    headers['content-type'] = contentType;
    payload = contentType === 'application/json' && typeof body !== 'string' ? JSON.stringify(body) : body;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  } catch (error) {
    throw coded('database_unavailable', `the service does not answer (${error.message}); check the connection and try again`);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    // A session that ended (timeout, disabled account) sends the page back to Sign in.
    if (response.status === 401 && path !== '/api/session') window.dispatchEvent(new Event('vsc-session-ended'));
    const error = json && json.error;
    if (error) throw Object.assign(coded(error.code, error.message), { status: response.status, rows: error.rows || [] });
    throw Object.assign(coded('internal', `the service answered HTTP ${response.status}`), { status: response.status });
  }
  return json;
}

export const get = (path) => api('GET', path);

// A GET whose answer is wanted as text (handed to the wasm as it came).
export async function getText(path) {
  const response = await fetch(path, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
  const text = await response.text();
  if (!response.ok) {
    let error = null;
    try { error = JSON.parse(text).error; } catch { error = null; }
    if (response.status === 401) window.dispatchEvent(new Event('vsc-session-ended'));
    throw coded(error ? error.code : 'internal', error ? error.message : `the service answered HTTP ${response.status}`);
  }
  return text;
}
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);

// Whether this page is served by the issuer service (it answers /api/health); a page served
// by the bridge or from files works offline only.
export async function serviceAnswers() {
  try {
    const response = await fetch('/api/health', { headers: { accept: 'application/json' } });
    if (!response.ok && response.status !== 503) return false;
    const type = response.headers.get('content-type') || '';
    return type.includes('json');
  } catch {
    return false;
  }
}
