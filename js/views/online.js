// The page on the issuer service: Sign in and Sign out, and the views of each role. A role
// sees its views and nothing else; signed out, the page offers Sign in besides the file mode.

import { $, hideError, showError } from '../core/dom.js';
import { api } from '../core/api.js';
import { session, role } from '../core/session.js';
import { go, refreshNav, route } from '../core/router.js';
import * as records from './records.js';
import * as approve from './approve.js';
import * as queue from './queue.js';
import * as mailers from './mailers.js';
import * as admin from './admin.js';
import * as audit from './audit.js';

// The first view of each role.
const HOME = {
  clerk: 'records',
  approver: 'approve',
  operator: 'queue',
  admin: 'admin',
  auditor: 'audit',
};

export function home() {
  if (session.user) return HOME[session.user.role] || 'signin';
  return session.online ? 'signin' : 'issue';
}

function showWho() {
  const box = $('#whoami');
  box.hidden = !session.user;
  $('#whoami-text').textContent = session.user
    ? `${session.user.name} · ${session.user.role}${session.user.branch ? ` at ${session.user.branch}` : ''}`
    : '';
}

async function signIn(event) {
  event.preventDefault();
  const errorBox = $('#signin-error');
  hideError(errorBox);
  const username = $('#signin-username');
  const password = $('#signin-password');
  if (!username.value.trim() || !password.value) {
    showError(errorBox, { code: 'wrong_credentials', message: 'type your username and your password, then press Sign in.' });
    (username.value.trim() ? password : username).focus();
    return;
  }
  try {
    const me = await api('POST', '/api/session', { username: username.value.trim(), password: password.value });
    password.value = '';
    session.user = me.user;
    changed();
    go(home());
  } catch (error) {
    password.value = '';
    showError(errorBox, error);
    password.focus();
  }
}

async function signOut() {
  if (!queue.mayLeave()) return;
  try {
    await api('DELETE', '/api/session');
  } catch {
    // Signed out anyway as far as this page goes: the session may have ended already.
  }
  session.user = null;
  mailers.clearAll();
  changed();
  go('signin');
  $('#signin-username').focus();
}

// Tells every view who is signed in now (they drop what belonged to the last one).
function changed() {
  showWho();
  for (const module of [records, approve, queue, admin, audit, mailers]) module.view.signedIn?.(session.user);
  refreshNav();
}

const signin = {
  name: 'signin',
  title: 'Sign in',
  section: 'view-signin',
  nav: 'nav-signin',
  available: () => session.online && !session.user,
  start() {
    $('#signin-form').addEventListener('submit', signIn);
    $('#sign-out').addEventListener('click', signOut);
    showWho();
    // A session that ended (timeout, sign-out elsewhere) sends the page back to Sign in.
    window.addEventListener('vsc-session-ended', () => {
      // Once: the page's renewals and a waiting report keep meeting the ended session.
      if (!session.user) return;
      session.user = null;
      changed();
      route();
    });
  },
  show() {
    $('#signin-username').focus();
  },
};

export const modules = [{ view: signin }, records, approve, queue, mailers, admin, audit];
export { role };
