// The auditor's "Audit log": the chain's rows a page at a time, filtered by actor, action,
// object and outcome, and "Verify the chain", which recomputes every hash at the service and
// names the first altered, deleted or reordered row.

import { $, el, hideError, plural, setStatus, showError, when } from '../core/dom.js';
import { get } from '../core/api.js';
import { role } from '../core/session.js';

const PER_PAGE = 100;
const state = { after: 0, next: null };

export const view = {
  name: 'audit',
  title: 'Audit log',
  section: 'view-audit',
  nav: 'nav-audit',
  available: () => role() === 'auditor',
  start() {
    $('#audit-verify').addEventListener('click', verify);
    $('#audit-filter').addEventListener('click', () => { state.after = 0; load(); });
    $('#audit-first').addEventListener('click', () => { state.after = 0; load(); });
    $('#audit-more').addEventListener('click', () => { if (state.next !== null) { state.after = state.next; load(); } });
    for (const id of ['#audit-actor', '#audit-action', '#audit-object']) {
      $(id).addEventListener('keydown', (e) => { if (e.key === 'Enter') { state.after = 0; load(); } });
    }
  },
  show() {
    load();
    verify();
  },
  signedIn() {
    state.after = 0;
    $('#audit-rows').replaceChildren();
    setStatus($('#audit-verify-result'), '');
  },
};

async function load() {
  const errorBox = $('#audit-error');
  hideError(errorBox);
  const params = new URLSearchParams({ after: String(state.after), limit: String(PER_PAGE) });
  for (const [key, id] of [['actor', '#audit-actor'], ['action', '#audit-action'], ['object', '#audit-object'], ['outcome', '#audit-outcome']]) {
    const value = $(id).value.trim();
    if (value) params.set(key, value);
  }
  try {
    const answer = await get(`/api/audit?${params}`);
    state.next = answer.rows.length === PER_PAGE ? answer.next_after : null;
    $('#audit-rows').replaceChildren(...answer.rows.map((r) => el('tr', { className: r.outcome === 'refused' ? 'refused' : '' },
      el('td', {}, String(r.seq)), el('td', {}, when(r.at_ms)), el('td', {}, r.actor), el('td', {}, r.role),
      el('td', {}, r.branch), el('td', {}, r.action), el('td', { className: 'uid' }, r.object), el('td', {}, r.outcome),
      el('td', { className: 'details' }, r.details === null ? '' : JSON.stringify(r.details)))));
    setStatus($('#audit-count'), answer.rows.length
      ? `Rows ${answer.rows[0].seq} to ${answer.rows[answer.rows.length - 1].seq} (${plural(answer.rows.length, 'row')}${state.next === null ? ', the last page' : ''}).`
      : 'No row matches.');
    $('#audit-more').disabled = state.next === null;
  } catch (error) {
    showError(errorBox, error);
  }
}

async function verify() {
  const result = $('#audit-verify-result');
  result.classList.remove('ok', 'warn');
  setStatus(result, 'Verifying the chain…');
  try {
    const answer = await get('/api/audit/verify');
    if (answer.ok) {
      setStatus(result, `The chain verifies: ${plural(answer.rows, 'row')}, head ${answer.head.slice(0, 16)}…`);
      result.classList.add('ok');
      result.dataset.verified = 'true';
    } else {
      setStatus(result, `The chain does NOT verify: ${answer.problem}`);
      result.classList.add('warn');
      result.dataset.verified = 'false';
    }
  } catch (error) {
    setStatus(result, '');
    showError($('#audit-error'), error);
  }
}
