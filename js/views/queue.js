// The operator's "Queue", at the branch PC paired with its bridge: "Enrol this station" (its
// fingerprint shown, to compare with the bridge's console), the branch's queue kept live with
// the reader's and card's state, "Claim" the next job (or one picked), then the card is
// personalized with the VSC and the password its envelope holds, "Verified", and the result is
// reported to the service by itself. A failed card is reported with its reason and the job
// goes back to the queue. "Next card" claims the next one; the PIN mailers of the cards done
// wait in a tray and print together.

import { $, el, hideError, plural, seconds, setStatus, showError } from '../core/dom.js';
import { vsc } from '../core/engine.js';
import { BridgePanel } from '../core/bridge.js';
import { api, get } from '../core/api.js';
import { role, session } from '../core/session.js';
import { openClaimed, stationKey } from '../core/station.js';
import { vscSummaryRows } from './personalize.js';
import { askNewPin, failedStep, runPersonalization } from './perso_run.js';
import { addMailer, mailerCount } from './mailers.js';

const POLL_MS = 5000;

const state = {
  // This bridge's station: {publicKey, fingerprint, id?, state?}.
  station: null,
  jobs: [],
  busy: false,
  poll: null,
  // Whether a verified card's report is being sent again until the service takes it.
  reporting: false,
};

const panel = new BridgePanel({
  prefix: 'op-',
  errorBox: document.querySelector('#queue-error'),
  isBusy: () => state.busy,
  onChange: () => { if (panel.ready && !state.station) loadStation(); renderControls(); },
});

export const view = {
  name: 'queue',
  title: 'Queue',
  section: 'view-queue',
  nav: 'nav-queue',
  available: () => role() === 'operator',
  start() {
    panel.start(false);
    $('#enrol').addEventListener('click', enrol);
    $('#claim').addEventListener('click', () => claim(null));
    $('#next-card').addEventListener('click', () => claim(null));
    $('#station-name').value = 'Branch PC';
    // A reload, a link away or closing the tab asks first while PIN mailers wait to be
    // printed (they would be wiped), a card is being claimed or written (it would be left
    // half-written, the job claimed until its lease ends), or a verified card waits to be
    // reported (the job would go back to the queue for a second card when its lease ends).
    window.addEventListener('beforeunload', (event) => {
      if (mailerCount() > 0 || state.busy || state.reporting) {
        event.preventDefault();
        // Browsers that predate preventDefault() here ask only when returnValue is set.
        event.returnValue = '';
      }
    });
  },
  show() {
    loadQueue();
    if (panel.ready) loadStation();
    clearInterval(state.poll);
    state.poll = setInterval(() => { if (!state.busy) loadQueue(); }, POLL_MS);
  },
  hide() {
    clearInterval(state.poll);
    state.poll = null;
  },
  confirmLeave: () => true,
  signedIn() {
    state.station = null;
    state.jobs = [];
    $('#queue-rows').replaceChildren();
    renderStation();
  },
};

// Whether the operator may leave the page (sign out): not while a card is being written or a
// verified card's report is pending (the report needs this operator's session, and the job
// would go back to the queue for a second card); with PIN mailers still to print, if the
// operator confirms.
export function mayLeave() {
  if (state.busy || state.reporting) {
    window.alert('A card is being personalized or its result reported to the service. Wait until the Queue says it is done, then sign out.');
    return false;
  }
  return mailerCount() === 0
    || window.confirm(`${plural(mailerCount(), 'PIN mailer')} not printed yet will be cleared. Sign out anyway?`);
}

function stationApproved() {
  return state.station && state.station.state === 'approved';
}

async function loadStation() {
  if (!panel.ready) return;
  try {
    const key = await stationKey(panel.bridge);
    const answer = await get('/api/stations');
    // A live enrolment of this key first; a revoked one only says why it cannot be used.
    const mine = answer.stations.filter((s) => s.public_key === key.publicKey);
    const known = mine.find((s) => s.state !== 'revoked') || mine[0];
    state.station = { ...key, id: known ? known.id : null, state: known ? known.state : null, name: known ? known.name : null };
  } catch (error) {
    state.station = null;
    showError($('#queue-error'), error);
  }
  renderStation();
  renderControls();
}

function renderStation() {
  const status = $('#station-status');
  const print = $('#station-fingerprint');
  const enrolBox = $('#station-enrol');
  status.classList.remove('ok', 'warn');
  const s = state.station;
  print.hidden = !s;
  print.textContent = s ? `Fingerprint: ${s.fingerprint}` : '';
  enrolBox.hidden = !s || Boolean(s.id);
  if (!s) {
    setStatus(status, 'Connect to the bridge of this PC to see its station key.');
  } else if (!s.id) {
    setStatus(status, 'This station is not enrolled: enrol it, then ask an administrator to approve it after comparing the fingerprint below with the bridge\'s console.');
    status.classList.add('warn');
  } else if (s.state === 'revoked') {
    setStatus(status, `Station ${s.name} was revoked: its key receives no more passwords. Make a new key on this PC (vsc-bridge station rotate), connect again, enrol it, and ask an administrator to approve it.`);
    status.classList.add('warn');
  } else if (s.state === 'enrolled') {
    setStatus(status, `Station ${s.name} is enrolled and waits for an administrator to approve it (compare the fingerprint below with the bridge's console).`);
    status.classList.add('warn');
  } else {
    setStatus(status, `Station ${s.name} is approved: it receives the passwords of this branch's cards.`);
    status.classList.add('ok');
  }
}

async function enrol() {
  const errorBox = $('#queue-error');
  hideError(errorBox);
  if (!state.station) {
    showError(errorBox, { code: 'not_authenticated', message: 'connect to the bridge of this PC (and pair) first.' });
    return;
  }
  try {
    await api('POST', '/api/stations', { name: $('#station-name').value.trim(), public_key: state.station.publicKey });
    await loadStation();
  } catch (error) {
    showError(errorBox, error);
  }
}

async function loadQueue() {
  if (!session.user) return;
  try {
    const answer = await get('/api/queue?per_page=100');
    state.jobs = answer.jobs;
    renderQueue(answer.total);
  } catch (error) {
    showError($('#queue-error'), error);
  }
}

function renderQueue(total) {
  const queued = state.jobs.filter((j) => j.state === 'queued').length;
  setStatus($('#queue-count'), total
    ? `${plural(queued, 'card')} to personalize${total > queued ? `, ${total - queued} being personalized` : ''}.`
    : 'The queue is empty.');
  $('#queue-rows').replaceChildren(...state.jobs.map((job) => {
    const pick = el('td', {});
    if (job.state === 'queued') {
      const button = el('button', { type: 'button' }, 'Claim this card');
      button.setAttribute('aria-label', `Claim the card for ${job.holder_name || job.id}`);
      button.disabled = !canClaim();
      button.addEventListener('click', () => claim(job.id));
      pick.append(button);
    }
    return el('tr', { dataset: { job: job.id } },
      el('td', {}, job.holder_name || ''), el('td', { className: 'uid' }, job.id),
      el('td', {}, job.state === 'claimed' ? `claimed by ${job.claimed_by}` : job.state),
      el('td', {}, String(job.attempts)), pick);
  }));
}

function canClaim() {
  return !state.busy && panel.ready && stationApproved();
}

function renderControls() {
  $('#claim').disabled = state.busy;
  for (const button of document.querySelectorAll('#queue-rows button')) button.disabled = !canClaim();
}

// What stops a claim now, in words, or null.
function claimProblem() {
  if (!panel.ready) return { code: 'not_authenticated', message: 'connect to the bridge of this PC (and pair) first.' };
  if (!state.station || !state.station.id) return { code: 'station_not_approved', message: 'enrol this station first.' };
  if (!stationApproved()) return { code: 'station_not_approved', message: 'an administrator has not approved this station yet.' };
  const reader = panel.readerInfo;
  if (!reader) return { code: 'unknown_reader', message: 'choose a reader first.' };
  if (!reader.cardPresent) return { code: 'no_card', message: `insert a blank card in ${reader.name}.` };
  return null;
}

async function claim(jobId) {
  if (state.busy) return;
  const errorBox = $('#queue-error');
  hideError(errorBox);
  $('#next-card').hidden = true;
  const problem = claimProblem();
  if (problem) {
    showError(errorBox, problem);
    return;
  }
  state.busy = true;
  renderControls();
  const status = $('#op-status');
  const steps = $('#op-steps');
  const started = performance.now();
  // Who claims: the mailers of this run belong to this operator, even if the session ends.
  const operator = session.user ? session.user.name : null;
  let claimed = null;
  let touched = false;
  let verified = null;
  let report = null;
  // Set when a verified card's report is left to `keepReporting`, which then owns the claim.
  let handedOff = false;
  let stopRenewing = () => {};
  // Set when the service refuses a renewal: this claim no longer holds the job.
  let lost = null;
  // The card session opens while the service answers the claim; given back unless used.
  const reader = panel.readerInfo;
  const bridge = panel.bridge;
  let card = bridge.connectCard(reader.name);
  card.catch(() => {});
  try {
    setStatus(status, 'Claiming…');
    const body = { station: state.station.id };
    if (jobId) body.job = jobId;
    const answer = await api('POST', '/api/queue/claim', body);
    if (!answer.job) {
      $('#queue-job').hidden = true;
      setStatus($('#queue-count'), 'The queue has no card for this station.');
      return;
    }
    claimed = answer;
    const claimedAt = performance.now();
    stopRenewing = keepLease(answer.job.id, answer.claim, answer.lease_seconds, (error) => {
      lost = error;
      // A question at the counter is answered "no": a claim that ended may set no PIN.
      const dialog = $('#new-pin-dialog');
      if (dialog.open) dialog.close();
    });
    const vscBytes = Uint8Array.from(atob(answer.vsc), (c) => c.charCodeAt(0));
    // The bridge opens the envelope while the page shows the job.
    setStatus(status, 'Opening the password envelope…');
    const opening = openClaimed(bridge, vscBytes, answer.envelope, answer.job.id, answer.job.branch);
    try {
      $('#queue-job-summary').replaceChildren(...vscSummaryRows(vsc.inspectVsc(vscBytes)));
    } catch (error) {
      // Not shown, not personalized: the VSC opened meanwhile is wiped.
      opening.then((opened) => opened.free(), () => {});
      throw error;
    }
    steps.replaceChildren();
    $('#queue-job').hidden = false;
    const opened = await opening;
    const openedAt = performance.now();
    let session;
    try {
      session = await card;
    } catch (error) {
      opened.free();
      throw error;
    }
    card = null;
    // The ATR of the card this session holds (the reader list's may be older: a card swapped
    // since it was sent).
    const atr = session.atr;
    if (lost) {
      bridge.releaseCard(session);
      throw lost;
    }
    touched = true;
    const mailer = await runPersonalization(bridge, opened, reader.name, {
      progress: $('#op-progress'),
      steps,
      status,
      confirmNewPin: (question) => (lost ? Promise.resolve(false) : askNewPin(question)),
      card: session,
    });
    const elapsed = performance.now() - started;
    // From here the card holds the VSC: its PIN mailer is kept whatever the service says, and
    // the job is never given back (another card would get the same VSC). "Verified" shows at
    // once; the report follows, and its outcome is shown when it comes.
    // The holder's name as text: the mailer may be wiped (printed and cleared) while the
    // report waits.
    report = {
      outcome: 'personalized', claim: answer.claim, atr, apdus: mailer.apdus, read_back_ok: true,
    };
    verified = { holderName: mailer.holderName };
    state.reporting = true;
    addMailer(mailer, operator);
    setStatus(status, `Verified in ${seconds(elapsed)}: the card for ${mailer.holderName} is done; reporting it to the service…`);
    status.dataset.ms = String(elapsed);
    status.dataset.steps = JSON.stringify({
      claim: claimedAt - started, open: openedAt - claimedAt, personalize: started + elapsed - openedAt,
    });
    await reportPersonalized(answer.job.id, report);
    setStatus(status, `Verified in ${seconds(elapsed)}: the card for ${verified.holderName} is done and reported. Take it out, insert the next blank card, then press Next card.`);
    offerNextCard();
  } catch (error) {
    if (verified && report && retryable(error)) {
      // The service or the network is down: the claim is kept and the report sent again
      // until the service takes it (no other card may get this VSC meanwhile).
      showError(errorBox, error);
      setStatus(status, `The card for ${verified.holderName} is personalized and verified and its PIN mailer is ready, but the service was not told yet (${error.message}). Keep the card and this page open${error.status === 401 ? ', and sign in again' : ''}: the page keeps the claim and reports the card again every ${RETRY_SECONDS} seconds.`);
      handedOff = true;
      keepReporting(claimed.job.id, report, verified.holderName, stopRenewing);
    } else if (verified && (lost || error.status === 409)) {
      // Claimed again since: another card may get (or have) this VSC.
      showError(errorBox, error);
      setStatus(status, `The card for ${verified.holderName} is personalized and verified, but this page's claim no longer holds job ${claimed.job.id} (${error.message}): another card may get the same VSC. Do not hand this card out or print its mailer: set it aside and tell an administrator.`);
    } else if (verified) {
      showError(errorBox, error);
      setStatus(status, `The card for ${verified.holderName} is personalized and verified and its PIN mailer is ready, but the service refused its report (${error.message}). Keep the card, print the mailer, and tell an administrator that job ${claimed.job.id} is personalized.`);
    } else if (lost) {
      // The job is not this page's any more (its lease ended and it went back to the queue,
      // or it was claimed again): nothing is sent for it, and nothing more was written.
      showError(errorBox, lost);
      const advice = touched && spoils(error) ? ` ${spoiledAdvice(error)} Tell an administrator.` : '';
      setStatus(status, `Not personalized: the service took job ${claimed.job.id} back from this page (${lost.message}), so the page stopped.${advice}`);
    } else {
      showError(errorBox, error);
      if (claimed) await giveBack(claimed, touched && spoils(error), error, steps);
      // A station revoked or no longer approved since the page looked: its status says why
      // and what to do.
      else if (error.status === 403) await loadStation();
    }
  } finally {
    if (card) card.then((session) => bridge.releaseCard(session), () => {});
    if (!handedOff) {
      state.reporting = false;
      stopRenewing();
      state.busy = false;
      renderControls();
    }
    await loadQueue();
  }
}

function offerNextCard() {
  $('#next-card').hidden = false;
  $('#next-card').focus();
}

// Seconds between reports of a verified card the service was not told of.
const RETRY_SECONDS = 10;

// Whether a verified card's report that failed with `error` is sent again: the network or
// the service failed, or the session ended (the report goes through once the operator signs
// in again: the service takes it under the same claim until the job is claimed again).
function retryable(error) {
  return !error.status || error.status >= 500 || error.status === 401;
}

// Reports verified card `id` again and again while the service or the network fails, with
// its lease renewed, and no other claim from this page meanwhile (`state.reporting`, set by
// the claim that hands over); then lets go of the claim and says how it ended.
async function keepReporting(id, body, holderName, stopRenewing) {
  const status = $('#op-status');
  try {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, RETRY_SECONDS * 1000));
      try {
        await reportPersonalized(id, body);
        hideError($('#queue-error'));
        setStatus(status, `The card for ${holderName} is now reported to the service. Take it out, insert the next blank card, then press Next card.`);
        offerNextCard();
        return;
      } catch (error) {
        if (retryable(error)) continue;
        showError($('#queue-error'), error);
        setStatus(status, `The card for ${holderName} is personalized and verified, but the service refused its report (${error.message}). Keep the card and tell an administrator that job ${id} is personalized.`);
        return;
      }
    }
  } finally {
    state.reporting = false;
    stopRenewing();
    state.busy = false;
    renderControls();
    await loadQueue();
  }
}

// Renews the lease of job `id` under `claim` every third of its `leaseSeconds` until the
// returned function is called, so a long question at the counter does not send the job back
// to the queue. A renewal the service refuses (409: the lease ended and the job went back to
// the queue, or it was claimed again) stops the renewals and calls `onLost(error)` once: the
// claim no longer holds the job. Any other failed renewal (the network, a session that ended)
// is tried again at the next turn, and the result report says what happened.
function keepLease(id, claim, leaseSeconds, onLost) {
  const every = Math.max(1000, ((leaseSeconds || 600) * 1000) / 3);
  let stopped = false;
  const stop = () => {
    stopped = true;
    clearInterval(timer);
  };
  const timer = setInterval(() => {
    api('POST', `/api/jobs/${encodeURIComponent(id)}/renew`, { claim }).catch((error) => {
      if (error.status !== 409 || stopped) return;
      stop();
      onLost(error);
    });
  }, every);
  return stop;
}

// Reports a verified card, trying three times over a few seconds: a lost answer must not
// leave the job to return to the queue. A report sent again after its answer was lost gets
// the recorded result (same claim), so it is never mistaken for another claim's card.
async function reportPersonalized(id, body) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await api('POST', `/api/jobs/${encodeURIComponent(id)}/result`, body);
    } catch (error) {
      if (attempt === 3 || !retryable(error) || error.status === 401) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
    }
  }
}

// Whether a run that failed with `error` after the card was connected leaves a card that may
// hold this job's VSC (vsc_core's `card_untouched`): one written to, and one that held it
// already (from an earlier claim) whose new PIN the operator declined. The job goes to a new
// card, so this one must be set aside.
function spoils(error) {
  return !error.cardUntouched;
}

// What the operator does with a card that `spoils` after `error`: the engine's advice (run the
// same VSC again on this card) is for a file; a queued job goes to a new card, so this one
// must not stay usable.
function spoiledAdvice(error) {
  const holds = error.code === 'new_pin_declined'
    ? 'it holds this VSC from before, with the PIN it had then'
    : 'it may hold part of this VSC';
  return `This card is spoiled: ${holds}, so set it aside to be destroyed; do not run it again.`;
}

// A claim (the service's answer to a claim) that did not end verified goes back to the
// queue: reported failed with its step and reason when the card may hold its VSC (the card is
// spoiled), released otherwise.
async function giveBack(claimed, touched, error, steps) {
  const status = $('#op-status');
  const id = encodeURIComponent(claimed.job.id);
  try {
    if (touched) {
      await api('POST', `/api/jobs/${id}/result`, {
        outcome: 'failed',
        claim: claimed.claim,
        step: failedStep(steps),
        reason: `${error.code || 'internal'}: ${error.message}`,
      });
      setStatus(status, `Not personalized: reported as failed, and the job is back in the queue for a new blank card. ${spoiledAdvice(error)}`);
    } else {
      await api('POST', `/api/jobs/${id}/release`, { claim: claimed.claim });
      setStatus(status, 'Not personalized: the job is back in the queue.');
    }
  } catch (reportError) {
    const spoiled = touched ? ` ${spoiledAdvice(error)}` : '';
    const job = reportError.status === 409
      ? 'the job is no longer this claim\'s'
      : 'the job returns to the queue when its lease ends';
    setStatus(status, `Not personalized, and the service could not be told (${reportError.message}); ${job}.${spoiled}`);
  }
}
