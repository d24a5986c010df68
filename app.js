// The page's entry: loads the card engine (web/pkg, built from the `web` crate), asks whether
// the issuer service serves this page, then starts the views and the router. Each view is a
// module of js/views with its own state; js/core holds what they share (DOM helpers, the
// error catalogue, the wasm, the bridge, the service's API, the router).
//
// All card logic (validation, building, sealing, opening, personalization) runs in the wasm;
// the modules only show things and move bytes between files, the service, the DOM and the
// wasm. Offline (a page served by the bridge or from files) the page issues and personalizes
// with files; served by vsc-issuer it also signs in, and each role sees its views.

import { $ } from './js/core/dom.js';
import { loadEngine } from './js/core/engine.js';
import { serviceAnswers } from './js/core/api.js';
import { session, refreshSession } from './js/core/session.js';
import { register, route, setHome } from './js/core/router.js';
import * as issue from './js/views/issue.js';
import * as sheet from './js/views/sheet.js';
import * as personalize from './js/views/personalize.js';
import * as mailer from './js/views/mailer.js';
import * as online from './js/views/online.js';

const VIEWS = [issue, personalize, mailer, sheet, ...online.modules];

async function start() {
  try {
    await loadEngine();
  } catch (error) {
    $('#loading').textContent =
      'The card engine (web/pkg) could not be loaded: build it with scripts/run, then reload this page.';
    return;
  }
  session.online = await serviceAnswers();
  if (session.online) await refreshSession();
  $('#loading').remove();
  const context = { servedByBridge: !session.online };
  for (const module of VIEWS) {
    register(module.view);
    module.view.start?.(context);
  }
  setHome(online.home);
  window.addEventListener('hashchange', route);
  route();
  document.body.dataset.ready = 'true';
}

start();
