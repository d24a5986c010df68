// The clerk's "Holder records": import a CSV file of holders into the service (every bad row
// listed, nothing stored until the file is right), see and search the records, select some
// (or all that match), then build their VSCs here, seal each password for every approved
// station of the chosen branch, and "Upload to branch" with a progress bar.
//
// 10,000 records go through in chunks: ids first (numbers only), then for each chunk the
// records' values, built and sealed in the wasm into one batch body, sent, and forgotten, so
// the tab's memory does not grow with the batch. The page builds the next chunk while the
// service stores one.

import { $, el, hideError, localToday, nextFrame, plural, seconds, setFieldError, setStatus, showError, when } from '../core/dom.js';
import { vsc } from '../core/engine.js';
import { api, get, getBytes, postBytes } from '../core/api.js';
import { role } from '../core/session.js';
import { fillEncodings, renderCsvProblems } from './holder_fields.js';

const PER_PAGE = 50;

const state = {
  page: 1,
  total: 0,
  rows: [],
  // Selected record ids (a Set of numbers), or every record matching the search.
  selected: new Set(),
  allMatching: false,
  // The search and filter of the list shown (what "Select all matching" selects), as query
  // parameters: the form may hold a search not applied yet.
  listed: new URLSearchParams(),
  busy: false,
};

export const view = {
  name: 'records',
  title: 'Holder records',
  section: 'view-records',
  nav: 'nav-records',
  available: () => role() === 'clerk',
  start,
  show: () => { load(); loadBranches(); },
  signedIn() {
    state.selected.clear();
    state.allMatching = false;
    $('#rec-rows').replaceChildren();
  },
};

function start() {
  const profiles = vsc.profiles();
  $('#rec-profile').replaceChildren(...profiles.map((p) => new Option(`${p.name} (${p.id})`, p.id)));
  fillEncodings($('#rec-csv-encoding'));
  $('#rec-import').addEventListener('click', importFile);
  let typing;
  $('#rec-search').addEventListener('input', () => {
    clearTimeout(typing);
    // A new search ends "all matching" at once: it meant the list shown.
    if (state.allMatching) { state.allMatching = false; render(); }
    typing = setTimeout(() => { state.page = 1; state.allMatching = false; load(); }, 250);
  });
  $('#rec-state').addEventListener('change', () => { state.page = 1; state.allMatching = false; load(); });
  $('#rec-prev').addEventListener('click', () => { if (state.page > 1) { state.page--; load(); } });
  $('#rec-next').addEventListener('click', () => { if (state.page * PER_PAGE < state.total) { state.page++; load(); } });
  $('#rec-select-page').addEventListener('change', (e) => {
    state.allMatching = false;
    for (const r of state.rows) {
      if (e.target.checked) state.selected.add(r.id);
      else state.selected.delete(r.id);
    }
    render();
  });
  $('#rec-select-all').addEventListener('click', () => { state.allMatching = true; render(); });
  $('#rec-select-none').addEventListener('click', () => { state.allMatching = false; state.selected.clear(); render(); });
  $('#rec-branch').addEventListener('change', showStations);
  $('#upload').addEventListener('click', upload);
}

// The search and state filter of the form, as query parameters.
function searchParams() {
  const params = new URLSearchParams();
  const q = $('#rec-search').value.trim();
  if (q) params.set('q', q);
  const st = $('#rec-state').value;
  if (st) params.set('state', st);
  return params;
}

async function load() {
  try {
    const listed = searchParams();
    const params = new URLSearchParams(listed);
    params.set('page', String(state.page));
    params.set('per_page', String(PER_PAGE));
    const answer = await get(`/api/records?${params}`);
    state.rows = answer.records;
    state.total = answer.total;
    state.listed = listed;
    render();
  } catch (error) {
    showError($('#records-error'), error);
  }
}

function selectedCount() {
  return state.allMatching ? state.total : state.selected.size;
}

function render() {
  const pages = Math.max(1, Math.ceil(state.total / PER_PAGE));
  $('#rec-count').textContent = `${plural(state.total, 'record')} match; page ${state.page} of ${pages}.`;
  $('#rec-rows').replaceChildren(...state.rows.map((r) => {
    const box = el('input', { type: 'checkbox', 'aria-label': `Select ${r.holder_name}` });
    box.checked = state.allMatching || state.selected.has(r.id);
    box.disabled = state.allMatching;
    box.addEventListener('change', () => {
      if (box.checked) state.selected.add(r.id);
      else state.selected.delete(r.id);
      render();
    });
    return el('tr', { dataset: { record: String(r.id) } },
      el('td', {}, box), el('td', {}, r.holder_name), el('td', {}, r.holder_id),
      el('td', {}, r.profile), el('td', {}, r.state), el('td', {}, when(r.imported_at_ms)));
  }));
  const page = $('#rec-select-page');
  page.checked = state.rows.length > 0 && state.rows.every((r) => state.allMatching || state.selected.has(r.id));
  page.disabled = state.allMatching;
  $('#rec-prev').disabled = state.page <= 1;
  $('#rec-next').disabled = state.page * PER_PAGE >= state.total;
  const n = selectedCount();
  $('#rec-selected').textContent = state.allMatching
    ? `All ${plural(n, 'record')} matching the search are selected.`
    : `${plural(n, 'record')} selected.`;
}

async function importFile() {
  const errorBox = $('#records-error');
  hideError(errorBox);
  const input = $('#rec-csv-file');
  const problems = $('#rec-csv-problems');
  renderCsvProblems(problems, []);
  setFieldError(input, $('#rec-csv-error'), '');
  const file = input.files[0];
  if (!file) {
    setFieldError(input, $('#rec-csv-error'), 'choose the CSV file of the holders first.');
    input.focus();
    return;
  }
  const status = $('#rec-import-status');
  setStatus(status, `Importing ${file.name}…`);
  const params = new URLSearchParams({ profile: $('#rec-profile').value, encoding: $('#rec-csv-encoding').value || 'utf-8' });
  try {
    const answer = await api('POST', `/api/records/import?${params}`, await file.arrayBuffer(), 'text/csv');
    setStatus(status, `Imported ${plural(answer.imported, 'holder')} from ${file.name}.`);
    input.value = '';
    $('#rec-state').value = 'pending';
    state.page = 1;
    await load();
  } catch (error) {
    if (error.rows && error.rows.length) {
      setStatus(status, `${file.name}: ${plural(error.rows.length, 'problem')}; nothing was imported.`);
      renderCsvProblems(problems, error.rows);
      problems.focus();
    } else if (error.code === 'invalid_file') {
      setStatus(status, 'Nothing was imported.');
      setFieldError(input, $('#rec-csv-error'), `${file.name}: ${error.message}`);
    } else {
      setStatus(status, '');
      showError(errorBox, error);
    }
  }
}

async function loadBranches() {
  try {
    const answer = await get('/api/branches');
    const select = $('#rec-branch');
    const previous = select.value;
    select.replaceChildren(...answer.branches.map((b) => new Option(`${b.name} (${b.id})`, b.id)));
    if (answer.branches.some((b) => b.id === previous)) select.value = previous;
    await showStations();
  } catch (error) {
    showError($('#records-error'), error);
  }
}

async function approvedStations(branch) {
  const answer = await get(`/api/stations?${new URLSearchParams({ branch, state: 'approved' })}`);
  return answer.stations;
}

async function showStations() {
  const branch = $('#rec-branch').value;
  const line = $('#rec-stations');
  if (!branch) { line.textContent = 'No branch yet: an administrator adds one.'; return; }
  try {
    const stations = await approvedStations(branch);
    line.textContent = stations.length
      ? `Each password is sealed for ${plural(stations.length, 'approved station')} of this branch: ${stations.map((s) => s.name).join(', ')}.`
      : 'This branch has no approved station yet: an operator enrols one and an administrator approves it.';
  } catch (error) {
    line.textContent = '';
    showError($('#records-error'), error);
  }
}

// The ids of the selection: those checked, or every record matching the search (numbers only,
// in one answer).
async function selectedIds() {
  if (!state.allMatching) return [...state.selected].sort((a, b) => a - b);
  return (await get(`/api/records/ids?${state.listed}`)).ids;
}

// `promise`, marked as handled: a fetch started ahead whose failure is seen only if awaited
// (after an earlier failure it never is, and is not an unhandled rejection).
function quiet(promise) {
  promise.catch(() => {});
  return promise;
}

async function upload() {
  if (state.busy) return;
  const errorBox = $('#records-error');
  hideError(errorBox);
  const status = $('#upload-status');
  const progress = $('#upload-progress');
  const branch = $('#rec-branch').value;
  if (!branch) {
    showError(errorBox, { code: 'invalid', message: 'choose the branch the cards are for.' });
    return;
  }
  state.busy = true;
  let uploader = null;
  let ids = [];
  let done = 0;
  // The chunk the service is storing (a promise of its number of jobs), if any.
  let storing = null;
  const stored = async () => {
    const chunk = storing;
    storing = null;
    done += await chunk;
  };
  const started = performance.now();
  // Where the time goes (milliseconds), for the bench: listing the ids, waiting for the
  // records' values, building and sealing in the wasm, and waiting for the service to store
  // a chunk (what the build of the next chunk did not hide).
  const phases = { ids: 0, values: 0, build: 0, store: 0 };
  let mark = started;
  const lap = (phase) => { const now = performance.now(); phases[phase] += now - mark; mark = now; };
  try {
    // The selection and the branch's stations in one round trip, not two.
    const stationsOfBranch = quiet(approvedStations(branch));
    ids = await selectedIds();
    if (ids.length === 0) {
      showError(errorBox, { code: 'nothing_built', message: 'select the records to build first (tick them, or "Select all matching").' });
      return;
    }
    // The sealers first: a branch without an approved station is refused before any
    // record's private values reach the page.
    uploader = new vsc.Uploader(branch, await stationsOfBranch);
    lap('ids');
    progress.max = ids.length;
    progress.value = 0;
    progress.hidden = false;
    const today = localToday();
    // A pipeline of three chunks at most: while the service stores one, the page builds and
    // seals the next, whose values were fetched meanwhile. One upload is in flight at a time,
    // and a chunk counts as done only once the service has stored it, so after a failure
    // `done` is exactly what was stored (a chunk is all or none) and nothing after it is sent.
    // Records built, sealed and uploaded per request (a batch of the service: all or none).
    const chunk = vsc.jobsPerBatch();
    const values = (at) => quiet(getBytes(`/api/records/values?ids=${ids.slice(at, at + chunk).join(',')}`));
    let fetching = values(0);
    setStatus(status, `Building, sealing and uploading… 0 of ${ids.length}`);
    for (let at = 0; at < ids.length; at += chunk) {
      const records = await fetching;
      lap('values');
      fetching = at + chunk < ids.length ? values(at + chunk) : null;
      let built;
      try {
        built = uploader.batchBody(records, today);
      } finally {
        // The records' private values, wiped once built (bytes can be; a string could not).
        records.fill(0);
      }
      lap('build');
      if (storing) {
        await stored();
        progress.value = done;
        setStatus(status, `Building, sealing and uploading… ${done} of ${ids.length}`);
      }
      lap('store');
      // Only the count outlives the request: the body is the service's to hold, not a
      // closure's (two chunks' bodies at once would grow the peak memory).
      const jobs = built.jobs;
      storing = quiet(postBytes('/api/jobs/batch', built.body).then(() => jobs));
      await nextFrame();
    }
    await stored();
    lap('store');
    const elapsed = performance.now() - started;
    status.dataset.phases = JSON.stringify(phases);
    status.dataset.ms = String(elapsed);
    setStatus(status, `Uploaded ${plural(done, 'VSC')} to ${branch} in ${seconds(elapsed)}; they wait for an approver.`);
    state.selected.clear();
    state.allMatching = false;
    await load();
  } catch (error) {
    // A chunk sent before the page failed may still be storing: it counts once stored.
    if (storing) await stored().catch(() => {});
    // The records uploaded (the first `done`, chunk by chunk) leave the selection: a holder
    // gets one card at a time, so "Upload to branch" again sends only the rest.
    for (const id of ids.slice(0, done)) state.selected.delete(id);
    setStatus(status, done ? `${done} uploaded before the problem below; the rest were not.` : 'Nothing was uploaded.');
    showError(errorBox, error);
    if (done) render();
  } finally {
    if (uploader) uploader.free();
    state.busy = false;
  }
}
