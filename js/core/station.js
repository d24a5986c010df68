// This PC's bridge as a station of the issuer service: its public key, and opening a claimed
// job's password envelope. The two calls of the bridge's station ops (`station_key`,
// `open_envelope`, docs/bridge-protocol.md) are here and nowhere else; the opened password
// goes from the bridge's reply frame into the wasm, which opens the VSC with it: this code
// never sees it (the frame itself is a string inside the wasm's bridge connection, which the
// page cannot wipe).

// `{publicKey, fingerprint}` of the station: the X25519 public key (64 hex digits, as the
// service takes it) and the fingerprint the bridge's console prints.
export async function stationKey(bridge) {
  const key = await bridge.stationKey();
  return { publicKey: key.publicKey, fingerprint: key.fingerprint };
}

// Opens the sealed VSC of a claimed job with the password its envelope holds: the bridge opens
// the envelope (only for this job: its id, branch and the .vsc's SHA-256 are bound to it), the
// wasm opens the VSC. `envelope` is the claim's `{enc, ciphertext}` (hex). Resolves to an
// OpenedVsc; rejects with `envelope_invalid` when the envelope is not for this station or this
// job.
export async function openClaimed(bridge, vscBytes, envelope, jobId, branch) {
  return bridge.openJob(vscBytes, jobId, branch, { enc: envelope.enc, ciphertext: envelope.ciphertext });
}
