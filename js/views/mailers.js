// The PIN mailers of the cards an operator personalized from the queue, kept (in the wasm,
// wiped when freed) until printed together; "Done, clear the PINs" frees them all.

import { $, el } from '../core/dom.js';
import { go } from '../core/router.js';
import { role } from '../core/session.js';

const tray = [];

export function addMailer(mailer) {
  tray.push(mailer);
  renderTray();
}

export function mailerCount() {
  return tray.length;
}

function renderTray() {
  $('#mailer-tray').hidden = tray.length === 0;
  $('#mailer-tray-count').textContent = tray.length === 1
    ? `One PIN mailer: ${tray[0].holderName}.`
    : `${tray.length} PIN mailers: ${tray.map((m) => m.holderName).join(', ')}.`;
}

function render() {
  $('#mailers-list').replaceChildren(...tray.map((m) => el('article', { className: 'mailer' },
    el('p', { className: 'mailer-issuer' }, m.issuerName),
    el('h2', {}, m.replacement ? 'Your new card PIN' : 'Your card PIN'),
    el('p', {}, 'Cardholder: ', el('strong', {}, m.holderName)),
    el('p', {}, 'Card number (VSC UID): ', el('code', {}, m.uid)),
    el('p', { className: 'pin-label' }, 'Your PIN'),
    el('p', { className: 'pin' }, m.pin),
    el('p', {}, 'Keep this PIN secret: nobody will ever ask you for it. Memorize it, then destroy this letter.'))));
}

function clearShown() {
  $('#mailers-list').replaceChildren();
}

function clearAll() {
  clearShown();
  for (const m of tray.splice(0)) m.free();
  renderTray();
}

export const view = {
  name: 'mailers',
  title: 'PIN mailers',
  section: 'view-mailers',
  fallback: 'queue',
  available: () => role() === 'operator' && tray.length > 0,
  hide: clearShown,
  show: render,
  start() {
    $('#print-mailers').addEventListener('click', () => go('mailers'));
    $('#print-mailers-now').addEventListener('click', () => window.print());
    $('#mailers-done').addEventListener('click', () => { clearAll(); go('queue'); });
    window.addEventListener('pagehide', clearAll);
  },
  signedIn: clearAll,
};
