// The one catalogue of error codes (vsc_core::error_catalogue, shared with the bridge and the
// issuer service), as the wasm hands it over: a title and a plain-words explanation per code.

let catalogue = new Map();

// Called once the wasm is loaded, with `vsc.errorCatalogue()`.
export function setCatalogue(entries) {
  catalogue = new Map(entries.map((e) => [e.code, e]));
}

export function titleOf(code) {
  const entry = catalogue.get(code);
  return entry ? entry.title : 'Something went wrong';
}

export function explanationOf(code) {
  const entry = catalogue.get(code);
  return entry ? entry.explanation : 'Try again; if it happens again, tell the administrator.';
}

// An Error with a catalogue code, as the wasm and the service make them.
export function coded(code, message) {
  return Object.assign(new Error(message), { code });
}
