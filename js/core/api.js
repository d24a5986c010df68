// The issuer service's JSON API, as the page calls it: same-origin requests with the session
// cookie and the CSRF header; errors thrown as `Error`s with the service's catalogue `code`
// (and `rows` for an import's bad rows).

import { coded } from './errors.js';

const CSRF_HEADER = 'x-vsc-request';

// Sends a request; a service that does not answer is a coded error like any other.
async function send(method, path, body, contentType) {
  const headers = { [CSRF_HEADER]: '1', accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = contentType;
  try {
    return await fetch(path, { method, headers, body, credentials: 'same-origin' });
  } catch (error) {
    throw coded('database_unavailable', `the service does not answer (${error.message}); check the connection and try again`);
  }
}

// The error a failed answer stands for (`text` is its body). A session that ended (timeout,
// disabled account) also sends the page back to Sign in.
function failure(path, response, text) {
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (response.status === 401 && path !== '/api/session') window.dispatchEvent(new Event('vsc-session-ended'));
  const error = json && json.error;
  if (error) return Object.assign(coded(error.code, error.message), { status: response.status, rows: error.rows || [] });
  return Object.assign(coded('internal', `the service answered HTTP ${response.status}`), { status: response.status });
}

// A request whose answer is JSON, with a body sent as JSON (an object) or as it is (text, or
// a file's bytes with their `contentType`); the parsed answer (`null` for none).
export async function api(method, path, body, contentType = 'application/json') {
  const json = body !== undefined && contentType === 'application/json' && typeof body !== 'string';
  const payload = json ? JSON.stringify(body) : body;
  const response = await send(method, path, payload, contentType);
  if (response.status === 204) return null;
  const text = await response.text();
  if (!response.ok) throw failure(path, response, text);
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);

// A GET whose answer is wanted as bytes (a `Uint8Array`, handed to the wasm as it came: kept
// off the JS heap, never turned into a string, and wipeable).
export async function getBytes(path) {
  const response = await send('GET', path);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (!response.ok) throw failure(path, response, new TextDecoder().decode(bytes));
  return bytes;
}

// A POST of JSON bytes (a `Uint8Array` the wasm made) whose answer is not needed: it is read
// as bytes, off the JS heap, and only an error's is decoded. Batches of thousands go this way.
// The bytes go as a Blob: with the array itself as the body, `fetch` took 13% of the page's
// thread during an upload of 10,000 records (DevTools profile); with a Blob, `fetch` and the
// Blob together 7%, and the upload took half the time with the service on a CPU of its own.
export async function postBytes(path, bytes) {
  const response = await send('POST', path, new Blob([bytes]), 'application/json');
  const answer = await response.arrayBuffer();
  if (!response.ok) throw failure(path, response, new TextDecoder().decode(answer));
}

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
