// The page's side of the bridge, shared by the views that reach a reader (Personalize and the
// operator's Queue): the address, Connect, pairing with the code the bridge shows, the token
// kept per address, and the reader list kept live from the bridge's events.
//
// A panel binds to elements whose ids start with its prefix (`bridge-address`, `connect`,
// `bridge-status`, `pairing`, `pairing-code`, `pair`, `reader`, `reader-status`). The address,
// Connect and pairing markup is index.html's `#bridge-connect` template, which the panel copies
// into its view's `[data-bridge-connect="prefix"]` slot; the reader's select and status are the
// view's own.

import { $, hideError, setStatus, showError } from './dom.js';
import { vsc } from './engine.js';

const DEFAULT_BRIDGE = 'ws://127.0.0.1:35900/v1';
const STORE_ADDRESS = 'vsc.bridgeAddress';
const tokenKey = (address) => `vsc.token:${address}`;

// The bridge a page talks to by default: the one stored, else the bridge serving this page,
// else the default port.
function defaultBridgeAddress(servedByBridge) {
  const stored = localStorage.getItem(STORE_ADDRESS);
  if (stored) return stored;
  const local = ['127.0.0.1', 'localhost', '[::1]'].includes(location.hostname);
  if (servedByBridge && location.protocol === 'http:' && local && location.port) return `ws://${location.host}/v1`;
  return DEFAULT_BRIDGE;
}

// Replaces the view's `[data-bridge-connect="prefix"]` slot with a copy of the
// `#bridge-connect` template whose ids, and the `for` and `aria-describedby` that name them,
// carry `prefix`.
function stampConnectMarkup(prefix) {
  const slot = document.querySelector(`[data-bridge-connect="${prefix}"]`);
  const copy = $('#bridge-connect').content.cloneNode(true);
  for (const element of copy.querySelectorAll('[id]')) element.id = prefix + element.id;
  for (const label of copy.querySelectorAll('label[for]')) label.htmlFor = prefix + label.htmlFor;
  for (const element of copy.querySelectorAll('[aria-describedby]')) {
    const ids = element.getAttribute('aria-describedby').split(/\s+/);
    element.setAttribute('aria-describedby', ids.map((id) => prefix + id).join(' '));
  }
  slot.replaceWith(copy);
}

export class BridgePanel {
  // `prefix` of the ids, the alert box for errors, `isBusy()` (no error shown on a close while
  // busy: the run reports it), and `onChange()` called when the connection or readers change.
  constructor({ prefix = '', errorBox, isBusy = () => false, onChange = () => {} }) {
    stampConnectMarkup(prefix);
    this.id = (name) => $(`#${prefix}${name}`);
    this.errorBox = errorBox;
    this.isBusy = isBusy;
    this.onChange = onChange;
    this.bridge = null;
    this.paired = false;
    this.readers = [];
    // The reader the operator chose (or the page picked first): kept while it is unplugged,
    // so that a blip never moves the next card's run to another reader.
    this.chosen = null;
  }

  start(servedByBridge) {
    this.id('bridge-address').value = defaultBridgeAddress(servedByBridge);
    this.id('bridge-address').addEventListener('keydown', (e) => { if (e.key === 'Enter') this.connect(); });
    this.id('connect').addEventListener('click', () => this.connect());
    this.id('pair').addEventListener('click', () => this.pair());
    this.id('pairing-code').addEventListener('keydown', (e) => { if (e.key === 'Enter') this.pair(); });
    this.id('reader').addEventListener('change', () => {
      this.chosen = this.reader;
      this.updateReaderStatus();
      this.onChange();
    });
    this.renderReaders();
  }

  get ready() {
    return Boolean(this.bridge && this.paired);
  }

  get reader() {
    return this.id('reader').value;
  }

  // The chosen reader's `{name, cardPresent, atr}`, if any.
  get readerInfo() {
    return this.readers.find((r) => r.name === this.reader);
  }

  drop() {
    if (this.bridge) {
      const bridge = this.bridge;
      this.bridge = null;
      bridge.onClose(undefined);
      bridge.onReadersChanged(undefined);
      bridge.close();
      bridge.free();
    }
    this.paired = false;
    this.readers = [];
    this.renderReaders();
  }

  async connect() {
    hideError(this.errorBox);
    const address = this.id('bridge-address').value.trim() || DEFAULT_BRIDGE;
    this.id('bridge-address').value = address;
    localStorage.setItem(STORE_ADDRESS, address);
    this.drop();
    this.id('pairing').hidden = true;
    const status = this.id('bridge-status');
    setStatus(status, `Connecting to ${address}…`);
    try {
      const bridge = await vsc.Bridge.connect(address);
      this.bridge = bridge;
      bridge.onClose((error) => {
        if (this.bridge !== bridge) return;
        this.bridge = null;
        this.paired = false;
        this.readers = [];
        this.renderReaders();
        setStatus(status, 'Not connected.');
        if (!this.isBusy()) showError(this.errorBox, error);
      });
      bridge.onReadersChanged((readers) => {
        this.readers = readers;
        this.renderReaders();
      });
      const token = localStorage.getItem(tokenKey(address));
      const hello = await bridge.hello(token || undefined);
      if (hello.paired) {
        this.paired = true;
        setStatus(status, `Connected to ${hello.bridge}. This page is paired.`);
        await this.loadReaders();
        return;
      }
      if (token) localStorage.removeItem(tokenKey(address));
      await bridge.pairBegin();
      setStatus(status, `Connected to ${hello.bridge}. Pair this page: type the code the bridge shows.`);
      this.id('pairing-code').value = '';
      this.id('pairing').hidden = false;
      this.id('pairing-code').focus();
    } catch (error) {
      this.drop();
      setStatus(status, 'Not connected.');
      showError(this.errorBox, error);
    }
  }

  async pair() {
    hideError(this.errorBox);
    if (!this.bridge) {
      showError(this.errorBox, { code: 'not_authenticated', message: 'press Connect first; the bridge then shows a pairing code.' });
      return;
    }
    const input = this.id('pairing-code');
    const code = input.value.trim();
    if (!code) {
      input.focus();
      showError(this.errorBox, { code: 'pairing_failed', message: 'type the pairing code the bridge shows, then press Pair.' });
      return;
    }
    try {
      const token = await this.bridge.pairFinish(code);
      localStorage.setItem(tokenKey(this.bridge.url), token);
      input.value = '';
      this.paired = true;
      this.id('pairing').hidden = true;
      setStatus(this.id('bridge-status'), 'Paired: the bridge will remember this page.');
      await this.loadReaders();
    } catch (error) {
      showError(this.errorBox, error);
      input.select();
    }
  }

  async loadReaders() {
    this.readers = await this.bridge.readers();
    this.renderReaders();
    this.id('reader').focus();
  }

  renderReaders() {
    const select = this.id('reader');
    const readers = this.readers;
    const options = readers.map((r) => new Option(`${r.name} (${r.cardPresent ? 'card present' : 'no card'})`, r.name));
    if (!this.chosen) {
      const first = readers.find((r) => r.cardPresent) || readers[0];
      this.chosen = first ? first.name : null;
    }
    // The chosen reader, unplugged: still the choice, shown as gone until it is back.
    if (this.chosen && !readers.some((r) => r.name === this.chosen)) {
      options.push(new Option(`${this.chosen} (not connected)`, this.chosen));
    }
    select.replaceChildren(...options);
    select.disabled = options.length === 0;
    if (this.chosen) select.value = this.chosen;
    this.updateReaderStatus();
    this.onChange();
  }

  updateReaderStatus() {
    const status = this.id('reader-status');
    const reader = this.readerInfo;
    status.classList.remove('ok', 'warn');
    if (!this.bridge) {
      status.textContent = 'Connect to the bridge to see the readers.';
    } else if (this.readers.length === 0) {
      status.textContent = this.paired
        ? 'The bridge sees no reader. Plug one in; it appears here.'
        : 'Pair this page to see the readers.';
    } else if (reader && reader.cardPresent) {
      status.textContent = `Card present in ${reader.name}.`;
      status.classList.add('ok');
    } else if (reader) {
      status.textContent = `No card in ${reader.name}: insert a blank card.`;
      status.classList.add('warn');
    } else if (this.chosen) {
      status.textContent = `${this.chosen} is not connected: plug it in again, or choose another reader.`;
      status.classList.add('warn');
    }
  }
}
