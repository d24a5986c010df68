// Loading the card engine: the wasm module built from the `web` crate (web/pkg). Every view
// imports `vsc` from here; `loadEngine` runs once, before any view starts.

import init, * as vsc from '../../web/pkg/vsc_web.js';
import { setCatalogue } from './errors.js';

export { vsc };

export async function loadEngine() {
  await init();
  setCatalogue(vsc.errorCatalogue());
}
