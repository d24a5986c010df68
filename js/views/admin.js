// The admin's "Administration": stations to approve (after comparing fingerprints with the
// bridge's console), users (add, disable, enable, unlock) and branches (add).

import { $, el, hideError, setStatus, showError, when } from '../core/dom.js';
import { api, get } from '../core/api.js';
import { role } from '../core/session.js';

export const view = {
  name: 'admin',
  title: 'Administration',
  section: 'view-admin',
  nav: 'nav-admin',
  available: () => role() === 'admin',
  start() {
    $('#add-user').addEventListener('click', addUser);
    $('#add-branch').addEventListener('click', addBranch);
  },
  show: load,
  signedIn() {
    for (const id of ['#stations-rows', '#users-rows', '#branches-rows']) $(id).replaceChildren();
  },
};

async function load() {
  try {
    const [stations, users, branches] = await Promise.all([get('/api/stations'), get('/api/users'), get('/api/branches')]);
    renderStations(stations.stations);
    renderUsers(users.users);
    renderBranches(branches.branches);
  } catch (error) {
    showError($('#admin-error'), error);
  }
}

// Runs a change, says what it did, and shows the lists again.
async function change(what, request) {
  const errorBox = $('#admin-error');
  hideError(errorBox);
  try {
    await request();
    setStatus($('#admin-status'), what);
    await load();
    return true;
  } catch (error) {
    setStatus($('#admin-status'), '');
    showError(errorBox, error);
    return false;
  }
}

function renderStations(stations) {
  $('#stations-rows').replaceChildren(...stations.map((s) => {
    const decision = el('td', {});
    const rowId = `station-${s.id}`;
    if (s.state === 'enrolled') {
      const approve = el('button', { type: 'button', className: 'primary' }, 'Approve');
      approve.setAttribute('aria-describedby', rowId);
      approve.addEventListener('click', () => change(`Station ${s.name} of ${s.branch} approved.`,
        () => api('POST', `/api/stations/${encodeURIComponent(s.id)}/approve`)));
      decision.append(approve, ' ');
    }
    if (s.state !== 'revoked') {
      const revoke = el('button', { type: 'button' }, 'Revoke');
      revoke.setAttribute('aria-describedby', rowId);
      revoke.addEventListener('click', () => {
        if (!window.confirm(`Revoke station ${s.name} of ${s.branch}? It gets no more envelopes and cannot claim.`)) return;
        change(`Station ${s.name} revoked.`, () => api('POST', `/api/stations/${encodeURIComponent(s.id)}/revoke`));
      });
      decision.append(revoke);
    }
    return el('tr', { dataset: { station: s.id } },
      el('td', {}, s.branch), el('td', { id: rowId }, `${s.name} (${s.branch})`),
      el('td', { className: 'fingerprint' }, s.fingerprint), el('td', {}, s.state),
      el('td', {}, `${s.enrolled_by}, ${when(s.enrolled_at_ms)}`), decision);
  }));
}

function renderUsers(users) {
  $('#users-rows').replaceChildren(...users.map((u) => {
    const status = u.disabled ? 'disabled'
      : u.locked_until_ms > Date.now() ? `locked until ${when(u.locked_until_ms)}` : 'active';
    const actions = el('td', {});
    const toggle = el('button', { type: 'button' }, u.disabled ? 'Enable' : 'Disable');
    toggle.setAttribute('aria-label', `${u.disabled ? 'Enable' : 'Disable'} ${u.name}`);
    toggle.addEventListener('click', () => change(`${u.name} ${u.disabled ? 'enabled' : 'disabled'}.`,
      () => api('PATCH', `/api/users/${encodeURIComponent(u.name)}`, { disabled: !u.disabled })));
    actions.append(toggle);
    if (u.locked_until_ms > Date.now()) {
      const unlock = el('button', { type: 'button' }, 'Unlock');
      unlock.setAttribute('aria-label', `Unlock ${u.name}`);
      unlock.addEventListener('click', () => change(`${u.name} unlocked.`,
        () => api('PATCH', `/api/users/${encodeURIComponent(u.name)}`, { unlock: true })));
      actions.append(' ', unlock);
    }
    return el('tr', {}, el('td', {}, u.name), el('td', {}, u.role), el('td', {}, u.branch || ''), el('td', {}, status), actions);
  }));
}

function renderBranches(branches) {
  $('#branches-rows').replaceChildren(...branches.map((b) => el('tr', {}, el('td', {}, b.id), el('td', {}, b.name))));
  const select = $('#user-branch');
  select.replaceChildren(new Option('(none)', ''), ...branches.map((b) => new Option(`${b.name} (${b.id})`, b.id)));
}

async function addUser() {
  const name = $('#user-name').value.trim();
  const userRole = $('#user-role').value;
  const branch = $('#user-branch').value;
  const password = $('#user-password');
  const body = { name, role: userRole, password: password.value };
  if (branch) body.branch = branch;
  const ok = await change(`User ${name} (${userRole}) added.`, () => api('POST', '/api/users', body));
  password.value = '';
  if (ok) $('#user-name').value = '';
}

async function addBranch() {
  const id = $('#branch-id').value.trim();
  const name = $('#branch-name').value.trim();
  const ok = await change(`Branch ${id} added.`, () => api('POST', '/api/branches', { id, name }));
  if (ok) {
    $('#branch-id').value = '';
    $('#branch-name').value = '';
  }
}
