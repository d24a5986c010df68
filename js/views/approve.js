// The approver's "Prepared jobs": each sealed VSC a clerk uploaded, approved to its branch's
// queue or rejected with a reason. A job the approver uploaded itself waits for another
// approver (four-eyes): its buttons say so instead of being offered.

import { $, el, hideError, plural, setStatus, showError, when } from '../core/dom.js';
import { api, get } from '../core/api.js';
import { role, session } from '../core/session.js';

const PER_PAGE = 50;
const state = { page: 1, total: 0 };

export const view = {
  name: 'approve',
  title: 'Prepared jobs',
  section: 'view-approve',
  nav: 'nav-approve',
  available: () => role() === 'approver',
  start() {
    $('#approve-reload').addEventListener('click', load);
    $('#approve-prev').addEventListener('click', () => { if (state.page > 1) { state.page--; load(); } });
    $('#approve-next').addEventListener('click', () => { if (state.page * PER_PAGE < state.total) { state.page++; load(); } });
  },
  show: load,
  signedIn() {
    state.page = 1;
    $('#approve-rows').replaceChildren();
  },
};

async function load() {
  const errorBox = $('#approve-error');
  try {
    const answer = await get(`/api/jobs?state=prepared&page=${state.page}&per_page=${PER_PAGE}`);
    state.total = answer.total;
    render(answer.jobs);
  } catch (error) {
    showError(errorBox, error);
  }
}

function render(jobs) {
  setStatus($('#approve-count'), state.total
    ? `${plural(state.total, 'job')} waiting for approval.`
    : 'No job is waiting for approval.');
  $('#approve-rows').replaceChildren(...jobs.map((job) => {
    const decision = el('td', { className: 'decision' });
    if (job.created_by === session.user?.name) {
      decision.append(el('span', { className: 'hint' }, 'Uploaded by you: another approver decides.'));
    } else {
      const approve = el('button', { type: 'button', className: 'primary' }, 'Approve');
      approve.setAttribute('aria-describedby', `job-${job.id}`);
      approve.addEventListener('click', () => decide(job, 'approve'));
      const reject = el('button', { type: 'button' }, 'Reject');
      reject.setAttribute('aria-describedby', `job-${job.id}`);
      reject.addEventListener('click', () => decide(job, 'reject'));
      decision.append(approve, ' ', reject);
    }
    return el('tr', { dataset: { job: job.id } },
      el('td', { id: `job-${job.id}` }, job.holder_name || `record ${job.record}`),
      el('td', {}, job.branch), el('td', {}, job.created_by), el('td', {}, when(job.created_at_ms)),
      el('td', { className: 'uid' }, job.id), decision);
  }));
  $('#approve-prev').disabled = state.page <= 1;
  $('#approve-next').disabled = state.page * PER_PAGE >= state.total;
}

async function decide(job, action) {
  const errorBox = $('#approve-error');
  hideError(errorBox);
  let body = undefined;
  if (action === 'reject') {
    const reason = window.prompt(`Why is the job for ${job.holder_name || job.id} rejected? (The clerk and the audit log see it.)`);
    if (reason === null) return;
    body = { reason };
  }
  try {
    await api('POST', `/api/jobs/${encodeURIComponent(job.id)}/${action}`, body);
    setStatus($('#approve-count'), `${action === 'approve' ? 'Approved' : 'Rejected'}: ${job.holder_name || job.id}.`);
  } catch (error) {
    showError(errorBox, error);
  }
  await load();
}
