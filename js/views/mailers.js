// The PIN mailers of the cards an operator personalized from the queue, kept (in the wasm,
// wiped when freed) until printed together; "Done, clear the PINs" frees the ones shown (a
// card verified while the list was on screen keeps its mailer for the next print).

import { $, el } from '../core/dom.js';
import { go } from '../core/router.js';
import { role } from '../core/session.js';

const tray = [];
// Who personalized the cards in the tray: signing in again as someone else wipes it; a session
// that ended and the same operator signing in again keep it.
let owner = null;
// The mailers the list shows (what "Print" printed).
let shown = [];

// Adds the mailer of a card `operator` (the name of who claimed it) personalized.
export function addMailer(mailer, operator) {
  if (operator) owner = operator;
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
  shown = tray.slice();
  $('#mailers-list').replaceChildren(...shown.map((m) => el('article', { className: 'mailer' },
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
  shown = [];
}

// "Done": the mailers shown (printed) are wiped; any added since stay in the tray.
function clearPrinted() {
  const printed = new Set(shown);
  clearShown();
  for (let i = tray.length - 1; i >= 0; i -= 1) {
    if (printed.has(tray[i])) tray.splice(i, 1)[0].free();
  }
  renderTray();
}

// Wipes every mailer (a sign-out the operator confirmed, the page closed).
export function clearAll() {
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
    $('#mailers-done').addEventListener('click', () => { clearPrinted(); go('queue'); });
    window.addEventListener('pagehide', clearAll);
  },
  signedIn(user) {
    if (user && user.name !== owner) clearAll();
  },
};
