// "Personalize" (offline file mode): connect to the bridge and pair, pick the reader, load a
// .vsc file (or pick the holder from a ZIP batch), type its password, then Personalize:
// progress, steps, "Verified", and the PIN mailer.
//
// Secrets: the VSC password is cleared from its input once the VSC is opened.

import { $, el, hideError, plural, seconds, setFieldError, setStatus, showError } from '../core/dom.js';
import { vsc } from '../core/engine.js';
import { session } from '../core/session.js';
import { BridgePanel } from '../core/bridge.js';
import { coded } from '../core/errors.js';
import { askNewPin, runPersonalization } from './perso_run.js';
import { showMailer } from './mailer.js';

const state = {
  batch: [],
  vscBytes: null,
  busy: false,
};

const panel = new BridgePanel({
  errorBox: document.querySelector('#perso-error'),
  isBusy: () => state.busy,
});

export const view = {
  name: 'personalize',
  title: 'Personalize',
  section: 'view-personalize',
  nav: 'nav-personalize',
  // The file mode, for whoever is not signed in to the issuer service.
  available: () => !session.user,
  start({ servedByBridge }) {
    panel.start(servedByBridge);
    $('#vsc-file').addEventListener('change', loadVscFile);
    $('#batch-search').addEventListener('input', renderBatch);
    $('#batch-list').addEventListener('change', () => pickFromBatch(Number($('#batch-list').value)));
    $('#personalize').addEventListener('click', personalize);
    // Enter in the password field personalizes.
    $('#vsc-form').addEventListener('submit', (e) => { e.preventDefault(); personalize(); });
  },
};

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
    throw coded('bad_vsc_file', 'its checksum does not match: the ZIP file is damaged');
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
  const matches = state.batch
    .map((entry, index) => ({ entry, index }))
    .filter(({ entry }) => !query || `${entry.label} ${entry.name}`.toLowerCase().includes(query));
  $('#batch-list').replaceChildren(...matches.map(({ entry, index }) => {
    const option = new Option(entry.label, String(index));
    option.disabled = !entry.info;
    return option;
  }));
  $('#batch-count').textContent =
    `${matches.length} of ${plural(state.batch.length, 'VSC')} in this batch.`;
}

function pickFromBatch(index) {
  const entry = state.batch[index];
  if (!entry || !entry.info) return;
  $('#batch-list').value = String(index);
  clearRun();
  showVsc(entry.bytes);
}

// Who the card is for, before anything is asked: the clear part of the VSC.
export function vscSummaryRows(info) {
  const rows = info.public.map((v) => [v.label, v.value]);
  rows.push(['Card profile', info.profile_name || info.profile_id]);
  rows.push(['VSC UID', info.uid]);
  return rows.flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]);
}

function showVsc(bytes) {
  const info = vsc.inspectVsc(bytes);
  clearVscSummary();
  state.vscBytes = bytes;
  $('#vsc-summary dl').append(...vscSummaryRows(info));
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

async function personalize() {
  if (state.busy) return;
  const errorBox = $('#perso-error');
  hideError(errorBox);
  setFieldError($('#password'), $('#password-error'), '');
  const fail = (code, message, focus) => {
    showError(errorBox, { code, message });
    if (focus) $(focus).focus();
  };
  if (!panel.ready) {
    fail('not_authenticated', 'connect to the bridge (and pair this page if asked) first.', '#connect');
    return;
  }
  const reader = panel.reader;
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
  const openedAt = performance.now();
  state.busy = true;
  const status = $('#perso-status');
  try {
    const mailer = await runPersonalization(panel.bridge, opened, reader, {
      progress: $('#perso-progress'),
      steps: $('#perso-steps'),
      status,
      confirmNewPin: askNewPin,
    });
    const elapsed = performance.now() - started;
    setStatus(status, `Verified in ${seconds(elapsed)}.`);
    status.dataset.ms = String(elapsed);
    status.dataset.steps = JSON.stringify({ open: openedAt - started, personalize: started + elapsed - openedAt });
    showMailer(mailer, elapsed, () => {
      resetPersonalize();
      location.hash = '#personalize';
      $('#vsc-file').focus();
    });
  } catch (error) {
    setStatus(status, 'Not personalized.');
    showError(errorBox, error);
  } finally {
    state.busy = false;
  }
}
