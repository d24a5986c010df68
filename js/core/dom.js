// DOM helpers shared by every view: finding elements, status lines, field errors, the error
// box (titled from the one error catalogue), dates, paint breaks and downloads.

import { titleOf, explanationOf } from './errors.js';

export const $ = (selector) => document.querySelector(selector);

export function capitalize(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

export function setStatus(element, text) {
  element.textContent = text;
}

// An element with text and attributes: el('td', {className: 'x'}, 'text').
export function el(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key.startsWith('aria-') || key === 'role' || key === 'for') element.setAttribute(key, value);
    else element[key] = value;
  }
  element.append(...children.filter((c) => c !== null && c !== undefined));
  return element;
}

// A table row of plain text cells.
export function textRow(cells) {
  return el('tr', {}, ...cells.map((text) => el('td', {}, String(text ?? ''))));
}

// Shows an error (`{code, message}`) in an alert box: the catalogue's title for its code,
// then what happened; the catalogue's explanation when the error says nothing more.
export function showError(box, error) {
  const code = error && error.code ? error.code : 'internal';
  const message = error && error.message ? error.message : explanationOf(code);
  box.replaceChildren(
    el('p', { className: 'alert-title' }, titleOf(code)),
    el('p', {}, capitalize(String(message))),
  );
  box.dataset.code = code;
  box.hidden = false;
}

export function hideError(box) {
  box.hidden = true;
  box.replaceChildren();
  delete box.dataset.code;
}

// A problem shown under the input it concerns, and announced with it.
export function setFieldError(input, errorElement, text) {
  errorElement.textContent = text ? capitalize(text) : '';
  if (text) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

// The browser's local date as YYYY-MM-DD: what holder dates are checked against.
export function localToday() {
  const now = new Date();
  const pad = (n, width) => String(n).padStart(width, '0');
  return `${pad(now.getFullYear(), 4)}-${pad(now.getMonth() + 1, 2)}-${pad(now.getDate(), 2)}`;
}

// Lets the browser paint (progress bars) between slices of work, without timer clamping.
export function nextFrame() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

// Saves `{name, mime, bytes}` as a download, then wipes the bytes.
export function save(file) {
  const blob = new Blob([file.bytes], { type: file.mime });
  const url = URL.createObjectURL(blob);
  const link = el('a', { href: url, download: file.name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  file.bytes.fill(0);
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

export function seconds(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

// A time in milliseconds since the epoch, as the browser's local date and time.
export function when(ms) {
  if (ms === null || ms === undefined) return '';
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
