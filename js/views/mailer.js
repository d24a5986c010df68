// The PIN mailer of a card just personalized from a file, shown once. The PIN exists in the
// DOM only while this view is shown; the wasm object holding it is freed (and wiped) when the
// view is left, and leaving it by a link, Back, a reload or closing the tab asks first.

import { $, seconds } from '../core/dom.js';
import { go } from '../core/router.js';

const state = {
  mailer: null,
  // Set by "Done": leaving the view then needs no confirmation.
  leaving: false,
  onDone: () => {},
};

function clear() {
  for (const id of ['#mailer-issuer', '#mailer-holder', '#mailer-uid', '#mailer-pin', '#verified-detail']) {
    $(id).textContent = '';
  }
  $('#mailer-replacement').hidden = true;
  if (state.mailer) {
    state.mailer.free();
    state.mailer = null;
  }
}

// Shows `mailer` (a wasm PinMailer, owned from now on by this view); `onDone` readies the
// view the clerk goes back to.
export function showMailer(mailer, elapsed, onDone) {
  clear();
  state.mailer = mailer;
  state.onDone = onDone;
  $('#mailer-issuer').textContent = mailer.issuerName;
  $('#mailer-holder').textContent = mailer.holderName;
  $('#mailer-title').textContent = mailer.replacement ? 'Your new card PIN' : 'Your card PIN';
  $('#mailer-replacement').hidden = !mailer.replacement;
  $('#mailer-uid').textContent = mailer.uid;
  $('#mailer-pin').textContent = mailer.pin;
  $('#verified').dataset.ms = String(elapsed);
  $('#verified-detail').textContent =
    `The card for ${mailer.holderName} was read back, compared with VSC ${mailer.uid} and given its` +
    ` ${mailer.replacement ? 'replacement' : 'individual'} PIN in ${seconds(elapsed)} (${mailer.apdus} commands). Found in the reader: ${mailer.found}.`;
  go('mailer');
  $('#print-mailer').focus();
}

// "Done": the PIN is cleared and the view is ready for the next card.
function done() {
  state.leaving = true;
  clear();
  state.onDone();
}

export const view = {
  name: 'mailer',
  title: 'PIN mailer',
  section: 'view-mailer',
  fallback: 'personalize',
  available: () => state.mailer !== null,
  // Leaving a PIN that is on screen (a link, Back) asks first: it can never be shown again.
  confirmLeave() {
    if (state.mailer && !state.leaving
        && !window.confirm('Leave the PIN mailer? The PIN is cleared and cannot be shown again.')) {
      return false;
    }
    state.leaving = false;
    return true;
  },
  hide: clear,
  start() {
    $('#print-mailer').addEventListener('click', () => window.print());
    $('#mailer-done').addEventListener('click', done);
    // A reload, a link to another page or closing the tab while the PIN is shown asks first.
    window.addEventListener('beforeunload', (event) => {
      if (state.mailer) {
        event.preventDefault();
        // Browsers that predate preventDefault() here ask only when returnValue is set.
        event.returnValue = '';
      }
    });
    window.addEventListener('pagehide', clear);
  },
};
