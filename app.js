// The clerks' page: wires the DOM to the wasm card engine (web/pkg, built from the `web` crate).
// All card logic (validation, building, sealing, opening, personalization) runs in the wasm;
// this file only shows things and moves bytes between files, the DOM and the wasm.
//
// Secrets: the VSC password is cleared from its input once the VSC is opened; the PIN exists
// in the DOM only while the PIN mailer view is shown, and the wasm object holding it is freed
// (and wiped) when that view is left.

import init, * as vsc from './web/pkg/vsc_web.js';

const $ = (selector) => document.querySelector(selector);
const DEFAULT_BRIDGE = 'ws://127.0.0.1:35900/v1';
const STORE_ADDRESS = 'vsc.bridgeAddress';
const tokenKey = (address) => `vsc.token:${address}`;

const state = {
  profiles: [],
  profile: null,
  touched: new Set(),
  csvText: null,
  issuer: null,
  bridge: null,
  paired: false,
  readers: [],
  vscBytes: null,
  mailer: null,
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
  card_refused: 'The card refused a command',
  read_back_mismatch: 'The card does not hold what was written',
  wrong_password: 'Wrong password',
  bad_vsc_file: 'This is not a usable VSC file',
  vsc_not_opened: 'The VSC cannot be opened',
  invalid_input: 'The holder data has problems',
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

function route() {
  let view = location.hash.replace('#', '') || 'issue';
  if (view === 'mailer' && !state.mailer) view = 'personalize';
  if (!['issue', 'personalize', 'mailer'].includes(view)) view = 'issue';
  // Keep the address in step with the view shown, so a later change to it is a real change.
  if (location.hash !== `#${view}`) history.replaceState(null, '', `#${view}`);
  if (view !== 'mailer') clearMailer();
  for (const name of ['issue', 'personalize', 'mailer']) {
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
    ' then one row per holder. UTF-8.';
  if (state.csvText !== null) checkCsvFile();
}

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
    input.type = { date: 'date', email: 'email' }[field.kind] || 'text';
    if (field.kind === 'digits') input.inputMode = 'numeric';
  }
  input.id = id;
  input.name = field.column;
  input.required = field.required;
  input.autocomplete = 'off';
  if (field.default) input.placeholder = field.default;
  const hint = document.createElement('p');
  hint.className = 'hint';
  hint.id = `${id}-hint`;
  const notes = [];
  if (field.area === 'private') notes.push('Personal data: encrypted, PIN-protected on the card.');
  if (field.default) notes.push(`Empty means "${field.default}".`);
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
  const check = vsc.checkForm(state.profile.id, formValues());
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
  state.csvText = file ? await file.text() : null;
  checkCsvFile();
}

function checkCsvFile() {
  const problems = $('#csv-problems');
  const body = problems.querySelector('tbody');
  body.replaceChildren();
  problems.hidden = true;
  if (state.csvText === null) {
    setStatus($('#csv-status'), '');
    return null;
  }
  const check = vsc.checkCsv(state.profile.id, state.csvText);
  if (check.ok) {
    setStatus($('#csv-status'), `${check.count} holder${check.count === 1 ? '' : 's'} ready to build.`);
  } else {
    setStatus($('#csv-status'), `${check.errors.length} problem${check.errors.length === 1 ? '' : 's'} found: nothing will be built until the file is fixed.`);
    for (const e of check.errors) {
      const row = document.createElement('tr');
      for (const text of [String(e.row), e.column || '(whole row)', e.reason]) {
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

function freeIssuer() {
  if (state.issuer) {
    state.issuer.free();
    state.issuer = null;
  }
  $('#downloads').hidden = true;
  $('#build-progress').hidden = true;
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
      state.issuer = vsc.Issuer.fromForm(state.profile.id, formValues());
    } else {
      if (state.csvText === null) {
        setStatus(status, 'Choose a CSV file first.');
        $('#csv-file').focus();
        return;
      }
      const check = checkCsvFile();
      if (!check.ok) {
        setStatus(status, 'Nothing was built: fix the rows listed below, then load the file again.');
        $('#csv-problems').focus();
        return;
      }
      state.issuer = vsc.Issuer.fromCsv(state.profile.id, state.csvText);
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
    const uids = issuer.uids;
    $('#downloads-summary').textContent = count === 1
      ? `One VSC, ${uids[0]}.vsc, and its password sheet.`
      : `${count} VSCs in one ZIP file, and one password sheet listing them all.`;
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

async function loadVscFile() {
  const errorBox = $('#perso-error');
  hideError(errorBox);
  const summary = $('#vsc-summary');
  const list = summary.querySelector('dl');
  list.replaceChildren();
  summary.hidden = true;
  state.vscBytes = null;
  const file = $('#vsc-file').files[0];
  if (!file) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  try {
    const info = vsc.inspectVsc(bytes);
    state.vscBytes = bytes;
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
    summary.hidden = false;
  } catch (error) {
    showError(errorBox, error);
  }
}

async function personalize() {
  if (state.busy) return;
  const errorBox = $('#perso-error');
  hideError(errorBox);
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
    fail('bad_vsc_file', 'choose the VSC file of the holder first.', '#vsc-file');
    return;
  }
  const passwordInput = $('#password');
  if (!passwordInput.value) {
    fail('wrong_password', 'type or paste the VSC password first.', '#password');
    return;
  }
  const started = performance.now();
  let opened;
  try {
    opened = vsc.openVsc(state.vscBytes, passwordInput.value);
  } catch (error) {
    showError(errorBox, error);
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
    const mailer = await state.bridge.personalize(opened, reader, onProgress);
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
  $('#mailer-uid').textContent = mailer.uid;
  $('#mailer-pin').textContent = mailer.pin;
  $('#verified').dataset.ms = String(elapsed);
  $('#verified-detail').textContent =
    `The card for ${mailer.holderName} was read back, compared with VSC ${mailer.uid} and given its` +
    ` individual PIN in ${seconds(elapsed)} (${mailer.apdus} commands). Found in the reader: ${mailer.found}.`;
  if (location.hash === '#mailer') route();
  else location.hash = '#mailer';
  $('#print-mailer').focus();
}

function clearMailer() {
  for (const id of ['#mailer-issuer', '#mailer-holder', '#mailer-uid', '#mailer-pin', '#verified-detail']) {
    $(id).textContent = '';
  }
  if (state.mailer) {
    state.mailer.free();
    state.mailer = null;
  }
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
  $('#build').addEventListener('click', build);
  $('#download-vsc').addEventListener('click', downloadVsc);
  $('#download-passwords').addEventListener('click', downloadPasswords);
  $('#bridge-address').value = defaultBridgeAddress();
  $('#bridge-address').addEventListener('keydown', (e) => { if (e.key === 'Enter') connect(); });
  $('#connect').addEventListener('click', connect);
  $('#pair').addEventListener('click', pair);
  $('#pairing-code').addEventListener('keydown', (e) => { if (e.key === 'Enter') pair(); });
  $('#reader').addEventListener('change', updateReaderStatus);
  $('#vsc-file').addEventListener('change', loadVscFile);
  $('#personalize').addEventListener('click', personalize);
  // Enter in the password field personalizes.
  $('#vsc-form').addEventListener('submit', (e) => { e.preventDefault(); personalize(); });
  $('#print-mailer').addEventListener('click', () => window.print());
  $('#mailer-done').addEventListener('click', () => { location.hash = '#personalize'; });
  window.addEventListener('hashchange', route);
  window.addEventListener('pagehide', clearMailer);
  route();
  document.body.dataset.ready = 'true';
}

start();
