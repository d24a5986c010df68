// What the views that take holder data share: the profile and encoding choices, one form
// input per profile field, and the table of a CSV file's bad rows (row, holder, column,
// problem), as the wasm and the issuer service report them.

import { el, textRow } from '../core/dom.js';
import { vsc } from '../core/engine.js';

// Fills a profile <select> and calls `onSelect(id)` now and on every change.
export function fillProfiles(select, profiles, onSelect) {
  select.replaceChildren(...profiles.map((p) => new Option(`${p.name} (${p.id})`, p.id)));
  select.addEventListener('change', () => onSelect(select.value));
  onSelect(select.value);
}

export function fillEncodings(select) {
  select.replaceChildren(...vsc.encodings().map((e) => new Option(e.description, e.label)));
}

// Shows the bad rows of a file in a problems box (a table in `box`), or hides it.
export function renderCsvProblems(box, errors) {
  const body = box.querySelector('tbody');
  body.replaceChildren(...errors.map((e) => textRow([e.row, e.holder || '', e.column || '(whole row)', e.reason])));
  box.hidden = errors.length === 0;
}

// What a date field accepts, in words.
const DATE_RANGES = {
  'after-today': 'A date after today',
  'before-today': 'A date before today',
  'up-to-today': 'Today or earlier',
};

// The label, input, hint and error line of one profile field.
export function fieldInput(field, { onInput, onBlur }) {
  const wrapper = el('div', { className: 'field' });
  if (field.kind === 'text' && field.max_len > 100) wrapper.classList.add('wide');
  const id = `field-${field.column}`;
  const label = el('label', { htmlFor: id }, field.label);
  if (field.required) label.append(el('span', { className: 'required', 'aria-hidden': 'true' }, ' *'));
  let input;
  if (field.kind === 'text' && field.max_len > 100) {
    input = el('textarea', { rows: 3 });
  } else {
    input = el('input');
    // Dates are typed as YYYY-MM-DD in a text input, never a browser date picker: its display
    // follows the computer's locale (02/03 is February or March) and it hands an impossible
    // date over as an empty value, which would build a VSC without it.
    input.type = field.kind === 'email' ? 'email' : 'text';
    if (field.kind === 'digits') input.inputMode = 'numeric';
    if (field.kind === 'date') {
      input.inputMode = 'numeric';
      input.maxLength = 10;
      input.placeholder = 'YYYY-MM-DD';
      input.pattern = '[0-9]{4}-[0-9]{2}-[0-9]{2}';
    }
  }
  input.id = id;
  input.name = field.column;
  input.required = field.required;
  input.autocomplete = 'off';
  const defaultsToToday = field.kind === 'date' && field.default === 'today';
  if (field.default && field.kind !== 'date') input.placeholder = field.default;
  const notes = [];
  if (field.area === 'private') notes.push('Personal data: encrypted, PIN-protected on the card.');
  if (field.kind === 'date') notes.push(`${DATE_RANGES[field.range] || 'A date'}, as YYYY-MM-DD.`);
  if (defaultsToToday) notes.push('Empty means today.');
  else if (field.default) notes.push(`Empty means "${field.default}".`);
  if (field.kind === 'text') notes.push(`At most ${field.max_len} characters.`);
  const hint = el('p', { className: 'hint', id: `${id}-hint` }, notes.join(' '));
  const error = el('p', { className: 'field-error', id: `${id}-error` });
  input.setAttribute('aria-describedby', `${hint.id} ${error.id}`);
  input.addEventListener('input', onInput);
  input.addEventListener('blur', onBlur);
  wrapper.append(label, input, hint, error);
  return wrapper;
}
