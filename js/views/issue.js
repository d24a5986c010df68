// "Issue cards" (offline file mode): choose a profile, one holder from the form or many from a
// CSV file, build and seal in the wasm, then download the VSCs and the password sheet.
// Every decision about the clerk's input (encoding, delimiter, dates against today, row
// numbers, duplicates) is the wasm's, the same code the CLI and the issuer service run.

import { $, hideError, localToday, nextFrame, plural, save, seconds, setFieldError, setStatus, showError } from '../core/dom.js';
import { vsc } from '../core/engine.js';
import { session } from '../core/session.js';
import { fillEncodings, fillProfiles, fieldInput, renderCsvProblems } from './holder_fields.js';

const state = {
  profiles: [],
  profile: null,
  touched: new Set(),
  csvBytes: null,
  csvName: '',
  issuer: null,
  busy: false,
};

// The batch built last (the password sheet view prints it).
export function builtIssuer() {
  return state.issuer;
}

export const view = {
  name: 'issue',
  title: 'Issue cards',
  section: 'view-issue',
  nav: 'nav-issue',
  // The file mode, for whoever is not signed in to the issuer service.
  available: () => !session.user,
  start,
};

function selectProfile(id) {
  freeIssuer();
  state.profile = state.profiles.find((p) => p.id === id) || null;
  state.touched.clear();
  const profile = state.profile;
  $('#profile-description').textContent = profile ? profile.description : '';
  const container = $('#holder-fields');
  container.replaceChildren();
  if (!profile) return;
  for (const field of profile.fields) {
    container.append(fieldInput(field, {
      onInput: () => { state.touched.add(field.column); freeIssuer(); validateForm(); },
      onBlur: () => { state.touched.add(field.column); validateForm(); },
    }));
  }
  $('#csv-hint').textContent =
    `A header row with the columns ${profile.fields.map((f) => f.column).join(', ')}` +
    ` (required: ${profile.fields.filter((f) => f.required).map((f) => f.column).join(', ')}),` +
    ' then one row per holder, separated by commas, semicolons or tabs. Dates as YYYY-MM-DD.';
  if (state.csvBytes !== null) checkCsvFile();
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
  renderCsvProblems(problems, []);
  setFieldError($('#csv-file'), $('#csv-file-error'), '');
  if (state.csvBytes === null) {
    setStatus($('#csv-status'), '');
    return null;
  }
  const check = vsc.checkCsv(state.profile.id, state.csvBytes, csvEncoding(), localToday());
  if (check.ok) {
    setStatus($('#csv-status'), `${plural(check.count, 'holder')} ready to build (values separated by ${check.delimiter}).`);
  } else if (check.file_error) {
    setFieldError($('#csv-file'), $('#csv-file-error'), `${state.csvName}: ${check.file_error}.`);
    setStatus($('#csv-status'), 'Nothing will be built until the file can be read.');
  } else {
    setStatus($('#csv-status'), `${plural(check.errors.length, 'problem')} found: nothing will be built until the file is fixed.`);
    renderCsvProblems(problems, check.errors);
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
        setStatus(status, `The form has ${plural(check.errors.length, 'problem')}: fix the highlighted fields, then press Build.`);
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
    setStatus(status, `Built and sealed ${plural(count, 'VSC')} in ${seconds(elapsed)}.`);
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

function download(which) {
  try {
    save(which === 'vsc' ? state.issuer.vscFile() : state.issuer.passwordFile());
  } catch (error) {
    showError($('#issue-error'), error);
  }
}

function start() {
  state.profiles = vsc.profiles();
  fillProfiles($('#profile'), state.profiles, selectProfile);
  for (const radio of document.querySelectorAll('input[name="source"]')) {
    radio.addEventListener('change', switchSource);
  }
  $('#csv-file').addEventListener('change', loadCsvFile);
  fillEncodings($('#csv-encoding'));
  $('#csv-encoding').addEventListener('change', () => { freeIssuer(); checkCsvFile(); });
  $('#build').addEventListener('click', build);
  $('#download-vsc').addEventListener('click', () => download('vsc'));
  $('#download-passwords').addEventListener('click', () => download('passwords'));
}
