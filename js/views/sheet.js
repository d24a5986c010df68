// The printable password sheet of the batch built in "Issue cards". It is in the DOM only
// while this view is shown.

import { $, el, localToday, plural, showError } from '../core/dom.js';
import { builtIssuer } from './issue.js';

function shown() {
  return $('#view-sheet tbody').childElementCount > 0;
}

function clear() {
  $('#view-sheet tbody').replaceChildren();
  $('#sheet-summary').textContent = '';
}

function showSheet() {
  try {
    const rows = builtIssuer().passwordRows();
    $('#view-sheet tbody').replaceChildren(...rows.map((r) => el('tr', {},
      el('td', {}, r.holder),
      el('td', { className: 'file' }, `${r.file}\nUID ${r.uid}`),
      el('td', { className: 'password' }, r.password))));
    $('#sheet-summary').textContent =
      `${plural(rows.length, 'VSC')}, printed ${localToday()}. A password opens the VSC file named beside it.`;
    location.hash = '#sheet';
    $('#print-sheet').focus();
  } catch (error) {
    showError($('#issue-error'), error);
  }
}

export const view = {
  name: 'sheet',
  title: 'Password sheet',
  section: 'view-sheet',
  fallback: 'issue',
  available: shown,
  hide: clear,
  start() {
    $('#show-sheet').addEventListener('click', showSheet);
    $('#print-sheet').addEventListener('click', () => window.print());
    $('#sheet-done').addEventListener('click', () => { clear(); location.hash = '#issue'; });
  },
};
