// The page's entry points for holder files, run in Node.js on the page's own WebAssembly
// (web/pkg): for each case read from standard input, one JSON line out. Used by
// tests/same_verdict.rs to compare the page's verdict and sealed values with the CLI's.
//
// A case: {"csv": base64 bytes, "encoding": "utf-8", "today": "YYYY-MM-DD"}.
// The answer: {"check": <checkCsv's result>, "built": null | [{"file", "password", "vsc": base64}]}
// (built only when the check is ok, through Issuer.fromCsv as the Build button does).

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { webcrypto } from 'node:crypto';
import * as vsc from '../../pkg/vsc_web.js';

// Node 18 has no global Web Crypto; the wasm draws its randomness from it.
if (!globalThis.crypto) globalThis.crypto = webcrypto;
vsc.initSync({ module: readFileSync(new URL('../../pkg/vsc_web_bg.wasm', import.meta.url)) });

const PROFILE = 'iso7816-generic';
const base64 = (bytes) => Buffer.from(bytes).toString('base64');

function build(bytes, encoding, today) {
  const issuer = vsc.Issuer.fromCsv(PROFILE, bytes, encoding, today);
  try {
    while (!issuer.done) issuer.buildNext(64);
    const rows = issuer.passwordRows();
    const file = issuer.vscFile();
    const vscs = rows.length === 1
      ? [file.bytes]
      : vsc.vscZipEntries(file.bytes).map((entry) => entry.bytes);
    return rows.map((row, i) => ({ file: row.file, password: row.password, vsc: base64(vscs[i]) }));
  } finally {
    issuer.free();
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  const job = JSON.parse(line);
  const bytes = Buffer.from(job.csv, 'base64');
  let answer;
  try {
    const check = vsc.checkCsv(PROFILE, bytes, job.encoding, job.today);
    answer = { check, built: check.ok ? build(bytes, job.encoding, job.today) : null };
  } catch (error) {
    answer = { error: { code: error.code || 'internal', message: String(error.message || error) } };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
