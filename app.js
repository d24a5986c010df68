// The clerks' page: wires the DOM to the wasm card engine (web/pkg, built from the `web` crate).
// All card logic (validation, building, sealing, opening, personalization) runs in the wasm;
// this file only shows things and moves bytes between files, the DOM and the wasm.
//
// Secrets: the VSC password is cleared from its input once the VSC is opened; the PIN exists
// in the DOM only while the PIN mailer view is shown, and the wasm object holding it is freed
// (and wiped) when that view is left (leaving it by a link, Back, a reload or closing the tab
// asks first); the password sheet is in the DOM only while its print view is shown.
//
// Every decision about the clerk's input (encoding, delimiter, dates against today, row
// numbers, duplicates) is the wasm's, the same code the CLI and the issuer service run.

import init, * as vsc from './web/pkg/vsc_web.js';

const $ = (selector) => document.querySelector(selector);
const DEFAULT_BRIDGE = 'ws://127.0.0.1:35900/v1';
const STORE_ADDRESS = 'vsc.bridgeAddress';
const tokenKey = (address) => `vsc.token:${address}`;

const state = {
  profiles: [],
  profile: null,
  touched: new Set(),
  csvBytes: null,
  csvName: '',
  issuer: null,
  batch: [],
  bridge: null,
  paired: false,
  readers: [],
  vscBytes: null,
  mailer: null,
  // Set by "Done" on the mailer: leaving it then needs no confirmation.
  leavingMailer: false,
  busy: false,
};

// Short headings for the errors a clerk meets; the message under it says what to do.
const ERROR_TITLES = {
  bridge_not_running: 'The bridge is not running',
  bridge_refused: 'The bridge refused this page',
  bridge_closed: 'The connection to the bridge was lost',
  bridge_timeout: 'The bridge does not answer',
  bad_address: 'That is not a bridge address',
  not_authenticated: 'This page is not paired with the bridge',
  pairing_failed: 'Pairing failed',
  rate_limited: 'Too many pairing attempts',
  busy: 'The reader is busy',
  no_card: 'No card in the reader',
  unknown_reader: 'The reader is gone',
  card_removed: 'The card was removed',
  transmit_failed: 'The reader could not talk to the card',
  reader_error: 'The smart card service failed',
  foreign_card: 'This card already belongs to another VSC',
  unusable_card: 'This card cannot take this VSC',
  wrong_card_type: 'This is not the right type of card',
  card_refused: 'The card refused a command',
  read_back_mismatch: 'The card does not hold what was written',
  wrong_password: 'Wrong password',
  bad_vsc_file: 'This is not a usable VSC file',
  vsc_not_opened: 'The VSC cannot be opened',
  invalid_input: 'The holder data has problems',
  new_pin_declined: 'No new PIN was set',
  unknown_profile: 'Unknown profile',
};

// ---------------------------------------------------------------- helpers

function showError(box, error) {
  const code = error && error.code ? error.code : 'internal';
  const message = error && error.message ? error.message : String(error);
  box.replaceChildren();
  const title = document.createElement('p');
  title.className = 'alert-title';
  title.textContent = ERROR_TITLES[code] || 'Something went wrong';
  const text = document.createElement('p');
  text.textContent = capitalize(message);
  box.append(title, text);
  box.dataset.code = code;
  box.hidden = false;
}

function hideError(box) {
  box.hidden = true;
  box.replaceChildren();
  delete box.dataset.code;
}

function capitalize(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

function setStatus(element, text) {
  element.textContent = text;
}

// A problem shown under the input it concerns, and announced with it.
function setFieldError(input, errorElement, text) {
  errorElement.textContent = text ? capitalize(text) : '';
  if (text) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

// The browser's local date as YYYY-MM-DD: what holder dates are checked against.
function localToday() {
  const now = new Date();
  const pad = (n, width) => String(n).padStart(width, '0');
  return `${pad(now.getFullYear(), 4)}-${pad(now.getMonth() + 1, 2)}-${pad(now.getDate(), 2)}`;
}

// Lets the browser paint (progress bars) between slices of work, without timer clamping.
function nextFrame() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

function save(file) {
  const blob = new Blob([file.bytes], { type: file.mime });
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = file.name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  file.bytes.fill(0);
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

function seconds(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

// ---------------------------------------------------------------- views

const VIEWS = ['issue', 'personalize', 'mailer', 'sheet'];
let shownView = null;

function route() {
  let view = location.hash.replace('#', '') || 'issue';
  if (view === 'mailer' && !state.mailer) view = 'personalize';
  if (view === 'sheet' && !sheetShown()) view = 'issue';
  if (!VIEWS.includes(view)) view = 'issue';
  // Leaving a PIN that is on screen (a link, Back) asks first: it can never be shown again.
  if (shownView === 'mailer' && view !== 'mailer' && state.mailer && !state.leavingMailer
      && !window.confirm('Leave the PIN mailer? The PIN is cleared and cannot be shown again.')) {
    history.replaceState(null, '', '#mailer');
    return;
  }
  state.leavingMailer = false;
  // Keep the address in step with the view shown, so a later change to it is a real change.
  if (location.hash !== `#${view}`) history.replaceState(null, '', `#${view}`);
  if (view !== 'mailer') clearMailer();
  if (view !== 'sheet') clearSheet();
  shownView = view;
  for (const name of VIEWS) {
    $(`#view-${name}`).hidden = name !== view;
  }
  for (const name of ['issue', 'personalize']) {
    const link = $(`#nav-${name}`);
    if (name === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = {
    issue: 'Issue cards · VSC',
    personalize: 'Personalize · VSC',
    mailer: 'PIN mailer · VSC',
    sheet: 'Password sheet · VSC',
  }[view];
}

// ---------------------------------------------------------------- issue cards

function fillProfiles() {
  const select = $('#profile');
  select.replaceChildren(
    ...state.profiles.map((p) => new Option(`${p.name} (${p.id})`, p.id)),
  );
  select.addEventListener('change', () => selectProfile(select.value));
  selectProfile(select.value);
}

function selectProfile(id) {
  freeIssuer();
  state.profile = state.profiles.find((p) => p.id === id) || null;
  state.touched.clear();
  const profile = state.profile;
  $('#profile-description').textContent = profile ? profile.description : '';
  const container = $('#holder-fields');
  container.replaceChildren();
  if (!profile) return;
  for (const field of profile.fields) container.append(fieldInput(field));
  $('#csv-hint').textContent =
    `A header row with the columns ${profile.fields.map((f) => f.column).join(', ')}` +
    ` (required: ${profile.fields.filter((f) => f.required).map((f) => f.column).join(', ')}),` +
    ' then one row per holder, separated by commas, semicolons or tabs. Dates as YYYY-MM-DD.';
  if (state.csvBytes !== null) checkCsvFile();
}

// What a date field accepts, in words.
const DATE_RANGES = {
  'after-today': 'A date after today',
  'before-today': 'A date before today',
  'up-to-today': 'Today or earlier',
};

function fieldInput(field) {
  const wrapper = document.createElement('div');
  wrapper.className = 'field';
  if (field.kind === 'text' && field.max_len > 100) wrapper.classList.add('wide');
  const id = `field-${field.column}`;
  const label = document.createElement('label');
  label.htmlFor = id;
  label.textContent = field.label;
  if (field.required) {
    const star = document.createElement('span');
    star.className = 'required';
    star.setAttribute('aria-hidden', 'true');
    star.textContent = ' *';
    label.append(star);
  }
  let input;
  if (field.kind === 'text' && field.max_len > 100) {
    input = document.createElement('textarea');
    input.rows = 3;
  } else {
    input = document.createElement('input');
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
  const hint = document.createElement('p');
  hint.className = 'hint';
  hint.id = `${id}-hint`;
  const notes = [];
  if (field.area === 'private') notes.push('Personal data: encrypted, PIN-protected on the card.');
  if (field.kind === 'date') notes.push(`${DATE_RANGES[field.range] || 'A date'}, as YYYY-MM-DD.`);
  if (defaultsToToday) notes.push('Empty means today.');
  else if (field.default) notes.push(`Empty means "${field.default}".`);
  if (field.kind === 'text') notes.push(`At most ${field.max_len} characters.`);
  hint.textContent = notes.join(' ');
  const error = document.createElement('p');
  error.className = 'field-error';
  error.id = `${id}-error`;
  input.setAttribute('aria-describedby', `${hint.id} ${error.id}`);
  input.addEventListener('input', () => {
    state.touched.add(field.column);
    freeIssuer();
    validateForm();
  });
  input.addEventListener('blur', () => {
    state.touched.add(field.column);
    validateForm();
  });
  wrapper.append(label, input, hint, error);
  return wrapper;
}

function formValues() {
  const values = {};
  for (const field of state.profile.fields) {
    values[field.column] = $(`#field-${field.column}`).value;
  }
  return values;
}

// Validates the whole form in the wasm and shows the problems of the inputs already touched.
function validateForm() {
  const check = vsc.checkForm(state.profile.id, formValues(), localToday());
  const byColumn = new Map(check.errors.map((e) => [e.column, e.reason]));
  for (const field of state.profile.fields) {
    const input = $(`#field-${field.column}`);
    const reason = state.touched.has(field.column) ? byColumn.get(field.column) : undefined;
    $(`#field-${field.column}-error`).textContent = reason ? `${field.label} ${reason}.` : '';
    if (reason) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
  return check;
}

function sourceMode() {
  return document.querySelector('input[name="source"]:checked').value;
}

function switchSource() {
  const csv = sourceMode() === 'csv';
  $('#holder-form').hidden = csv;
  $('#csv-input').hidden = !csv;
  freeIssuer();
}

async function loadCsvFile() {
  freeIssuer();
  const file = $('#csv-file').files[0];
  state.csvBytes = file ? new Uint8Array(await file.arrayBuffer()) : null;
  state.csvName = file ? file.name : '';
  checkCsvFile();
}

function csvEncoding() {
  return $('#csv-encoding').value || 'utf-8';
}

function checkCsvFile() {
  const problems = $('#csv-problems');
  const body = problems.querySelector('tbody');
  body.replaceChildren();
  problems.hidden = true;
  setFieldError($('#csv-file'), $('#csv-file-error'), '');
  if (state.csvBytes === null) {
    setStatus($('#csv-status'), '');
    return null;
  }
  const check = vsc.checkCsv(state.profile.id, state.csvBytes, csvEncoding(), localToday());
  if (check.ok) {
    setStatus($('#csv-status'), `${check.count} holder${check.count === 1 ? '' : 's'} ready to build (values separated by ${check.delimiter}).`);
  } else if (check.file_error) {
    setFieldError($('#csv-file'), $('#csv-file-error'), `${state.csvName}: ${check.file_error}.`);
    setStatus($('#csv-status'), 'Nothing will be built until the file can be read.');
  } else {
    setStatus($('#csv-status'), `${check.errors.length} problem${check.errors.length === 1 ? '' : 's'} found: nothing will be built until the file is fixed.`);
    for (const e of check.errors) {
      const row = document.createElement('tr');
      for (const text of [String(e.row), e.holder || '', e.column || '(whole row)', e.reason]) {
        const cell = document.createElement('td');
        cell.textContent = text;
        row.append(cell);
      }
      body.append(row);
    }
    problems.hidden = false;
  }
  return check;
}

// Forgets a built batch; whatever the Build line said is about it, so it goes too.
function freeIssuer() {
  if (state.issuer) {
    state.issuer.free();
    state.issuer = null;
  }
  $('#downloads').hidden = true;
  $('#build-progress').hidden = true;
  const status = $('#build-status');
  if (!state.busy) {
    setStatus(status, '');
    delete status.dataset.ms;
  }
}

async function build() {
  if (state.busy) return;
  const errorBox = $('#issue-error');
  hideError(errorBox);
  freeIssuer();
  const status = $('#build-status');
  try {
    if (sourceMode() === 'form') {
      for (const field of state.profile.fields) state.touched.add(field.column);
      const check = validateForm();
      if (!check.ok) {
        setStatus(status, `The form has ${check.errors.length} problem${check.errors.length === 1 ? '' : 's'}: fix the highlighted fields, then press Build.`);
        $(`#field-${check.errors[0].column}`)?.focus();
        return;
      }
      state.issuer = vsc.Issuer.fromForm(state.profile.id, formValues(), localToday());
    } else {
      if (state.csvBytes === null) {
        setStatus(status, 'Choose a CSV file first.');
        $('#csv-file').focus();
        return;
      }
      const check = checkCsvFile();
      if (check.file_error) {
        setStatus(status, 'Nothing was built: the file cannot be read (see above).');
        $('#csv-file').focus();
        return;
      }
      if (!check.ok) {
        setStatus(status, 'Nothing was built: fix the rows listed below, then load the file again.');
        $('#csv-problems').focus();
        return;
      }
      state.issuer = vsc.Issuer.fromCsv(state.profile.id, state.csvBytes, csvEncoding(), localToday());
    }
    state.busy = true;
    const issuer = state.issuer;
    const progress = $('#build-progress');
    progress.max = issuer.total;
    progress.value = 0;
    progress.hidden = false;
    const started = performance.now();
    let sliceStart = performance.now();
    while (!issuer.done) {
      issuer.buildNext(10);
      if (performance.now() - sliceStart > 30) {
        progress.value = issuer.built;
        setStatus(status, `Building… ${issuer.built} of ${issuer.total}`);
        await nextFrame();
        sliceStart = performance.now();
      }
    }
    const elapsed = performance.now() - started;
    progress.value = issuer.built;
    status.dataset.ms = String(elapsed);
    const count = issuer.built;
    setStatus(status, `Built and sealed ${count} VSC${count === 1 ? '' : 's'} in ${seconds(elapsed)}.`);
    const names = issuer.fileNames;
    $('#downloads-summary').textContent = count === 1
      ? `One VSC, ${names[0]}, and its password sheet.`
      : `${count} VSCs in one ZIP file, named by holder, and one password sheet listing them all.`;
    $('#downloads').hidden = false;
    $('#download-vsc').focus();
  } catch (error) {
    freeIssuer();
    setStatus(status, '');
    showError(errorBox, error);
  } finally {
    state.busy = false;
  }
}

function downloadVsc() {
  try {
    save(state.issuer.vscFile());
  } catch (error) {
    showError($('#issue-error'), error);
  }
}

function downloadPasswords() {
  try {
    save(state.issuer.passwordFile());
  } catch (error) {
    showError($('#issue-error'), error);
  }
}

// ---------------------------------------------------------------- printable password sheet

function sheetShown() {
  return $('#view-sheet tbody').childElementCount > 0;
}

function showSheet() {
  try {
    const rows = state.issuer.passwordRows();
    const body = $('#view-sheet tbody');
    body.replaceChildren(...rows.map((r) => {
      const row = document.createElement('tr');
      for (const [text, className] of [[r.holder, ''], [`${r.file}\nUID ${r.uid}`, 'file'], [r.password, 'password']]) {
        const cell = document.createElement('td');
        cell.textContent = text;
        if (className) cell.className = className;
        row.append(cell);
      }
      return row;
    }));
    $('#sheet-summary').textContent =
      `${rows.length} VSC${rows.length === 1 ? '' : 's'}, printed ${localToday()}. A password opens the VSC file named beside it.`;
    location.hash = '#sheet';
    $('#print-sheet').focus();
  } catch (error) {
    showError($('#issue-error'), error);
  }
}

function clearSheet() {
  $('#view-sheet tbody').replaceChildren();
  $('#sheet-summary').textContent = '';
}

// ---------------------------------------------------------------- personalize

function defaultBridgeAddress() {
  const stored = localStorage.getItem(STORE_ADDRESS);
  if (stored) return stored;
  // A page served by the bridge itself talks to that bridge.
  const local = ['127.0.0.1', 'localhost', '[::1]'].includes(location.hostname);
  if (location.protocol === 'http:' && local && location.port) return `ws://${location.host}/v1`;
  return DEFAULT_BRIDGE;
}

function dropBridge() {
  if (state.bridge) {
    const bridge = state.bridge;
    state.bridge = null;
    bridge.onClose(undefined);
    bridge.onReadersChanged(undefined);
    bridge.close();
    bridge.free();
  }
  state.paired = false;
  state.readers = [];
  renderReaders();
}

async function connect() {
  const errorBox = $('#perso-error');
  hideError(errorBox);
  const address = $('#bridge-address').value.trim() || DEFAULT_BRIDGE;
  $('#bridge-address').value = address;
  localStorage.setItem(STORE_ADDRESS, address);
  dropBridge();
  $('#pairing').hidden = true;
  const status = $('#bridge-status');
  setStatus(status, `Connecting to ${address}…`);
  try {
    const bridge = await vsc.Bridge.connect(address);
    state.bridge = bridge;
    bridge.onClose((error) => {
      if (state.bridge !== bridge) return;
      state.bridge = null;
      state.paired = false;
      state.readers = [];
      renderReaders();
      setStatus(status, 'Not connected.');
      if (!state.busy) showError(errorBox, error);
    });
    bridge.onReadersChanged((readers) => {
      state.readers = readers;
      renderReaders();
    });
    const token = localStorage.getItem(tokenKey(address));
    const hello = await bridge.hello(token || undefined);
    if (hello.paired) {
      state.paired = true;
      setStatus(status, `Connected to ${hello.bridge}. This page is paired.`);
      await loadReaders();
      return;
    }
    if (token) localStorage.removeItem(tokenKey(address));
    await bridge.pairBegin();
    setStatus(status, `Connected to ${hello.bridge}. Pair this page: type the code the bridge shows.`);
    $('#pairing-code').value = '';
    $('#pairing').hidden = false;
    $('#pairing-code').focus();
  } catch (error) {
    dropBridge();
    setStatus(status, 'Not connected.');
    showError(errorBox, error);
  }
}

async function pair() {
  const errorBox = $('#perso-error');
  hideError(errorBox);
  if (!state.bridge) {
    showError(errorBox, { code: 'not_authenticated', message: 'press Connect first; the bridge then shows a pairing code.' });
    return;
  }
  const input = $('#pairing-code');
  const code = input.value.trim();
  if (!code) {
    input.focus();
    showError(errorBox, { code: 'pairing_failed', message: 'type the pairing code the bridge shows, then press Pair.' });
    return;
  }
  try {
    const token = await state.bridge.pairFinish(code);
    localStorage.setItem(tokenKey(state.bridge.url), token);
    input.value = '';
    state.paired = true;
    $('#pairing').hidden = true;
    setStatus($('#bridge-status'), 'Paired: the bridge will remember this page.');
    await loadReaders();
  } catch (error) {
    showError(errorBox, error);
    input.select();
  }
}

async function loadReaders() {
  state.readers = await state.bridge.readers();
  renderReaders();
  $('#reader').focus();
}

function renderReaders() {
  const select = $('#reader');
  const previous = select.value;
  const readers = state.readers;
  select.replaceChildren(
    ...readers.map((r) => new Option(`${r.name} (${r.cardPresent ? 'card present' : 'no card'})`, r.name)),
  );
  select.disabled = readers.length === 0;
  const keep = readers.find((r) => r.name === previous);
  const withCard = readers.find((r) => r.cardPresent);
  if (keep) select.value = keep.name;
  else if (withCard) select.value = withCard.name;
  updateReaderStatus();
}

function updateReaderStatus() {
  const status = $('#reader-status');
  const reader = state.readers.find((r) => r.name === $('#reader').value);
  status.classList.remove('ok', 'warn');
  if (!state.bridge) {
    status.textContent = 'Connect to the bridge to see the readers.';
  } else if (state.readers.length === 0) {
    status.textContent = state.paired
      ? 'The bridge sees no reader. Plug one in; it appears here.'
      : 'Pair this page to see the readers.';
  } else if (reader && reader.cardPresent) {
    status.textContent = `Card present in ${reader.name}.`;
    status.classList.add('ok');
  } else if (reader) {
    status.textContent = `No card in ${reader.name}: insert a blank card.`;
    status.classList.add('warn');
  }
}

function clearVscSummary() {
  const summary = $('#vsc-summary');
  summary.querySelector('dl').replaceChildren();
  summary.hidden = true;
  state.vscBytes = null;
}

async function loadVscFile() {
  clearRun();
  setFieldError($('#vsc-file'), $('#vsc-file-error'), '');
  clearVscSummary();
  state.batch = [];
  $('#batch-picker').hidden = true;
  const file = $('#vsc-file').files[0];
  if (!file) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  const isZip = (bytes[0] === 0x50 && bytes[1] === 0x4b) || /\.zip$/i.test(file.name);
  try {
    if (isZip) await openBatch(bytes);
    else showVsc(bytes);
  } catch (error) {
    setFieldError($('#vsc-file'), $('#vsc-file-error'), `${file.name}: ${error.message}`);
    $('#vsc-file-error').dataset.code = error.code || 'internal';
  }
}

// A deflated ZIP entry, inflated by the browser and checked against its archive by the wasm.
async function inflate(entry) {
  const stream = new Blob([entry.bytes]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  if (!vsc.checkInflated(bytes, entry.inflated.size, entry.inflated.crc)) {
    throw Object.assign(new Error('its checksum does not match: the ZIP file is damaged'), { code: 'bad_vsc_file' });
  }
  return bytes;
}

// A ZIP of VSCs: list its holders to pick from, with a search over names, ids and UIDs.
async function openBatch(bytes) {
  const entries = vsc.vscZipEntries(bytes);
  state.batch = await Promise.all(entries.map(async (entry) => {
    try {
      const vscBytes = entry.inflated ? await inflate(entry) : entry.bytes;
      const info = vsc.inspectVsc(vscBytes);
      return { name: entry.name, bytes: vscBytes, info, label: `${info.holder || entry.name} · ${info.uid}` };
    } catch (error) {
      return { name: entry.name, bytes: null, info: null, label: `${entry.name} (cannot be read: ${error.message})` };
    }
  }));
  $('#batch-search').value = '';
  renderBatch();
  $('#batch-picker').hidden = false;
  if (state.batch.length === 1) pickFromBatch(0);
  else $('#batch-search').focus();
}

function renderBatch() {
  const query = $('#batch-search').value.trim().toLowerCase();
  const list = $('#batch-list');
  const matches = state.batch
    .map((entry, index) => ({ entry, index }))
    .filter(({ entry }) => !query || `${entry.label} ${entry.name}`.toLowerCase().includes(query));
  list.replaceChildren(...matches.map(({ entry, index }) => {
    const option = new Option(entry.label, String(index));
    option.disabled = !entry.info;
    return option;
  }));
  $('#batch-count').textContent =
    `${matches.length} of ${state.batch.length} VSC${state.batch.length === 1 ? '' : 's'} in this batch.`;
}

function pickFromBatch(index) {
  const entry = state.batch[index];
  if (!entry || !entry.info) return;
  $('#batch-list').value = String(index);
  clearRun();
  showVsc(entry.bytes);
}

// Who the card is for, before anything is asked: the clear part of the VSC.
function showVsc(bytes) {
  const info = vsc.inspectVsc(bytes);
  clearVscSummary();
  state.vscBytes = bytes;
  const list = $('#vsc-summary dl');
  const rows = info.public.map((v) => [v.label, v.value]);
  rows.push(['Card profile', info.profile_name || info.profile_id]);
  rows.push(['VSC UID', info.uid]);
  for (const [term, value] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    list.append(dt, dd);
  }
  $('#vsc-summary').hidden = false;
}

// Forgets what the last run showed (its steps, progress, status line and error): they are
// about another VSC once a new file is loaded.
function clearRun() {
  if (state.busy) return;
  $('#perso-steps').replaceChildren();
  $('#perso-progress').hidden = true;
  setStatus($('#perso-status'), '');
  hideError($('#perso-error'));
}

// Resets the view for the next card: no VSC, no password, no steps.
function resetPersonalize() {
  $('#vsc-file').value = '';
  setFieldError($('#vsc-file'), $('#vsc-file-error'), '');
  setFieldError($('#password'), $('#password-error'), '');
  clearVscSummary();
  state.batch = [];
  $('#batch-picker').hidden = true;
  $('#password').value = '';
  clearRun();
}

// The engine's question for a card this VSC already personalized: a modal dialog, answered
// with "Set a new PIN" or "Cancel" (Escape too).
function askNewPin(question) {
  const dialog = $('#new-pin-dialog');
  $('#new-pin-text').textContent = capitalize(question.text);
  return new Promise((resolve) => {
    const finish = (answer) => {
      $('#new-pin-yes').onclick = null;
      $('#new-pin-no').onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    $('#new-pin-yes').onclick = () => finish(true);
    $('#new-pin-no').onclick = () => finish(false);
    dialog.onclose = () => finish(false);
    dialog.showModal();
    $('#new-pin-no').focus();
  });
}

async function personalize() {
  if (state.busy) return;
  const errorBox = $('#perso-error');
  hideError(errorBox);
  setFieldError($('#password'), $('#password-error'), '');
  const fail = (code, message, focus) => {
    showError(errorBox, { code, message });
    if (focus) $(focus).focus();
  };
  if (!state.bridge || !state.paired) {
    fail('not_authenticated', 'connect to the bridge (and pair this page if asked) first.', '#connect');
    return;
  }
  const reader = $('#reader').value;
  if (!reader) {
    fail('unknown_reader', 'choose a reader first.', '#reader');
    return;
  }
  if (!state.vscBytes) {
    const what = state.batch.length ? 'pick the holder from the batch first.' : 'choose the VSC file of the holder first.';
    setFieldError($('#vsc-file'), $('#vsc-file-error'), what);
    $(state.batch.length ? '#batch-list' : '#vsc-file').focus();
    return;
  }
  const passwordInput = $('#password');
  if (!passwordInput.value) {
    setFieldError(passwordInput, $('#password-error'), 'type or paste the VSC password first.');
    passwordInput.focus();
    return;
  }
  const started = performance.now();
  let opened;
  try {
    opened = vsc.openVsc(state.vscBytes, passwordInput.value);
  } catch (error) {
    if (error.code === 'wrong_password') {
      setFieldError(passwordInput, $('#password-error'), error.message);
      $('#password-error').dataset.code = error.code;
    } else {
      showError(errorBox, error);
    }
    passwordInput.focus();
    return;
  }
  // The VSC is open: the password is not needed any more, whatever happens next.
  passwordInput.value = '';
  state.busy = true;
  const status = $('#perso-status');
  const progress = $('#perso-progress');
  const steps = $('#perso-steps');
  progress.hidden = false;
  progress.value = 0;
  steps.replaceChildren();
  setStatus(status, 'Personalizing… keep the card in the reader.');
  const onProgress = (report) => {
    progress.max = Math.max(report.apdusPlanned, 1);
    progress.value = report.apdusDone;
    steps.replaceChildren(...report.steps.map((label, i) => {
      const item = document.createElement('li');
      const current = i === report.steps.length - 1;
      item.textContent = label;
      item.className = current ? 'current' : 'done';
      if (current) item.setAttribute('aria-current', 'step');
      return item;
    }));
  };
  try {
    const mailer = await state.bridge.personalize(opened, reader, onProgress, askNewPin);
    const elapsed = performance.now() - started;
    for (const item of steps.children) item.className = 'done';
    progress.value = progress.max;
    setStatus(status, `Verified in ${seconds(elapsed)}.`);
    status.dataset.ms = String(elapsed);
    showMailer(mailer, elapsed);
  } catch (error) {
    steps.lastElementChild?.classList.replace('current', 'failed');
    progress.hidden = true;
    setStatus(status, 'Not personalized.');
    showError(errorBox, error);
  } finally {
    state.busy = false;
  }
}

// ---------------------------------------------------------------- PIN mailer

function showMailer(mailer, elapsed) {
  clearMailer();
  state.mailer = mailer;
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
  if (location.hash === '#mailer') route();
  else location.hash = '#mailer';
  $('#print-mailer').focus();
}

function clearMailer() {
  for (const id of ['#mailer-issuer', '#mailer-holder', '#mailer-uid', '#mailer-pin', '#verified-detail']) {
    $(id).textContent = '';
  }
  $('#mailer-replacement').hidden = true;
  if (state.mailer) {
    state.mailer.free();
    state.mailer = null;
  }
}

// "Done": the PIN is cleared and the view is ready for the next card.
function mailerDone() {
  state.leavingMailer = true;
  clearMailer();
  resetPersonalize();
  location.hash = '#personalize';
  $('#vsc-file').focus();
}

// ---------------------------------------------------------------- start

async function start() {
  try {
    await init();
  } catch (error) {
    $('#loading').textContent =
      'The card engine (web/pkg) could not be loaded: build it with scripts/run, then reload this page.';
    return;
  }
  $('#loading').remove();
  state.profiles = vsc.profiles();
  fillProfiles();
  for (const radio of document.querySelectorAll('input[name="source"]')) {
    radio.addEventListener('change', switchSource);
  }
  $('#csv-file').addEventListener('change', loadCsvFile);
  $('#csv-encoding').replaceChildren(
    ...vsc.encodings().map((e) => new Option(e.description, e.label)),
  );
  $('#csv-encoding').addEventListener('change', () => { freeIssuer(); checkCsvFile(); });
  $('#build').addEventListener('click', build);
  $('#download-vsc').addEventListener('click', downloadVsc);
  $('#download-passwords').addEventListener('click', downloadPasswords);
  $('#show-sheet').addEventListener('click', showSheet);
  $('#print-sheet').addEventListener('click', () => window.print());
  $('#sheet-done').addEventListener('click', () => { clearSheet(); location.hash = '#issue'; });
  $('#bridge-address').value = defaultBridgeAddress();
  $('#bridge-address').addEventListener('keydown', (e) => { if (e.key === 'Enter') connect(); });
  $('#connect').addEventListener('click', connect);
  $('#pair').addEventListener('click', pair);
  $('#pairing-code').addEventListener('keydown', (e) => { if (e.key === 'Enter') pair(); });
  $('#reader').addEventListener('change', updateReaderStatus);
  $('#vsc-file').addEventListener('change', loadVscFile);
  $('#batch-search').addEventListener('input', renderBatch);
  $('#batch-list').addEventListener('change', () => pickFromBatch(Number($('#batch-list').value)));
  $('#personalize').addEventListener('click', personalize);
  // Enter in the password field personalizes.
  $('#vsc-form').addEventListener('submit', (e) => { e.preventDefault(); personalize(); });
  $('#print-mailer').addEventListener('click', () => window.print());
  $('#mailer-done').addEventListener('click', mailerDone);
  window.addEventListener('hashchange', route);
  // A reload, a link to another page or closing the tab while the PIN is shown asks first.
  window.addEventListener('beforeunload', (event) => {
    if (state.mailer) {
      event.preventDefault();
      // Browsers that predate preventDefault() here ask only when returnValue is set.
      event.returnValue = '';
    }
  });
  window.addEventListener('pagehide', clearMailer);
  route();
  document.body.dataset.ready = 'true';
}

start();
