// Views and the address bar: each view registers itself; the hash names the view shown. A
// view may be unavailable (not for the signed-in role, or nothing to show), then the router
// shows its fallback; a view may refuse to be left (the PIN mailer asks first).
//
// A view is `{name, title, section, nav?, available(), fallback, confirmLeave(), hide()}`:
// `section` is its element id, `nav` its link's id in the masthead, `available()` whether it
// may be shown now, `confirmLeave()` whether it may be left now (asked only when shown),
// `hide()` called whenever another view is shown, `show()` when it is.

import { $ } from './dom.js';

const views = new Map();
let shown = null;
let home = () => 'issue';

export function register(view) {
  views.set(view.name, view);
}

// The view shown when the hash names none, or one that is not available.
export function setHome(pick) {
  home = pick;
}

export function shownView() {
  return shown;
}

export function go(name) {
  if (location.hash === `#${name}`) route();
  else location.hash = `#${name}`;
}

export function route() {
  let name = location.hash.replace('#', '') || home();
  for (let hops = 0; hops < 4; hops++) {
    const view = views.get(name);
    if (!view) { name = home(); continue; }
    if (view.available && !view.available()) { name = view.fallback || home(); continue; }
    break;
  }
  if (!views.has(name)) name = 'issue';
  const leaving = views.get(shown);
  if (leaving && shown !== name && leaving.confirmLeave && !leaving.confirmLeave()) {
    history.replaceState(null, '', `#${shown}`);
    return;
  }
  // Keep the address in step with the view shown, so a later change to it is a real change.
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  for (const view of views.values()) {
    if (view.name !== name && view.hide) view.hide();
  }
  shown = name;
  for (const view of views.values()) {
    $(`#${view.section}`).hidden = view.name !== name;
  }
  refreshNav();
  const view = views.get(name);
  document.title = `${view.title} · VSC`;
  if (view.show) view.show();
}

// Shows the links of the views available now, marking the one shown.
export function refreshNav() {
  for (const view of views.values()) {
    if (!view.nav) continue;
    const link = $(`#${view.nav}`);
    link.parentElement.hidden = view.available ? !view.available() : false;
    if (view.name === shown) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}
