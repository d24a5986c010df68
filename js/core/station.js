// This PC's bridge as a station of the issuer service: its public key, and opening a claimed
// job's password envelope. The two calls of the bridge's station ops (`station_key`,
// `open_envelope`, docs/bridge-protocol.md) are here and nowhere else; the opened password
// stays in the wasm, which opens the VSC with it.

import { coded } from './errors.js';

// `{publicKey, fingerprint}` of the station: the X25519 public key (standard base64, as the
// service takes it) and the fingerprint the bridge's console prints.
export async function stationKey(bridge) {
  if (typeof bridge.stationKey !== 'function') {
    throw coded('unsupported_protocol', 'this page cannot ask the bridge for its station key yet; update VSC');
  }
  const key = await bridge.stationKey();
  return { publicKey: key.publicKey, fingerprint: key.fingerprint };
}

// Opens the sealed VSC of a claimed job with the password its envelope holds: the bridge opens
// the envelope (only for this job: its id, branch and the .vsc's SHA-256 are bound to it), the
// wasm opens the VSC. Resolves to an OpenedVsc; rejects with `envelope_invalid` when the
// envelope is not for this station or this job.
export async function openClaimed(bridge, vscBytes, envelope, jobId, branch) {
  if (typeof bridge.openClaimed !== 'function') {
    throw coded('unsupported_protocol', 'this page cannot open password envelopes yet; update VSC');
  }
  return bridge.openClaimed(vscBytes, envelope.enc, envelope.ciphertext, jobId, branch);
}
