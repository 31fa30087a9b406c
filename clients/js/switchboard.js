// switchboard.js — a small browser client for a Switchboard gateway.
// One dependency-free ES module: connect, reconnect with jittered
// exponential backoff, a bounded queue while disconnected, the gateway's
// heartbeat answered, text and JSON helpers, event callbacks.

/**
 * @typedef {Object} Options
 * @property {number} [minDelay=500]   first reconnect delay, ms
 * @property {number} [maxDelay=10000] largest reconnect delay, ms
 * @property {number} [maxQueue=100]   messages kept while disconnected; older ones are dropped
 * @property {string} [ping]           the gateway's ping_data: answered with `pong`, not surfaced
 * @property {string} [pong]           the answer to `ping`
 * @property {typeof WebSocket} [WebSocket] the WebSocket class (tests inject one)
 * @property {(fn: () => void, ms: number) => any} [setTimeout] timer (tests inject one)
 */

export class Switchboard {
  /**
   * @param {string} url  ws:// or wss:// URL of the gateway
   * @param {Options} [options]
   */
  constructor(url, options = {}) {
    this.url = url;
    this.opts = { minDelay: 500, maxDelay: 10000, maxQueue: 100, ...options };
    this.WS = this.opts.WebSocket || globalThis.WebSocket;
    this.timer = this.opts.setTimeout || ((fn, ms) => setTimeout(fn, ms));
    this.handlers = new Map();
    this.queue = [];
    this.attempt = 0;
    this.ws = null;
    this.closed = false;
    this._state = "closed";
  }

  /** @returns {"connecting"|"open"|"reconnecting"|"closed"} */
  get state() { return this._state; }

  /** Connects (and keeps reconnecting until close()). */
  connect() {
    this.closed = false;
    this._open();
    return this;
  }

  /**
   * Registers a callback: "open", "close", "message" (text or ArrayBuffer),
   * "json" (parsed JSON messages), "reconnecting" (delay ms), "drop"
   * (a queued message dropped), "error".
   */
  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(fn);
    return this;
  }

  /** Removes a callback. */
  off(event, fn) {
    this.handlers.get(event)?.delete(fn);
    return this;
  }

  /** Sends text (or binary); queued while disconnected. */
  send(data) {
    if (this.ws && this._state === "open") {
      this.ws.send(data);
      return;
    }
    this.queue.push(data);
    while (this.queue.length > this.opts.maxQueue) this._emit("drop", this.queue.shift());
  }

  /** Sends a value as JSON. */
  sendJSON(value) { this.send(JSON.stringify(value)); }

  /** Closes the connection and stops reconnecting. */
  close() {
    this.closed = true;
    this._state = "closed";
    if (this.ws) this.ws.close(1000);
  }

  _emit(event, arg) {
    for (const fn of this.handlers.get(event) || []) {
      try { fn(arg); } catch (e) { if (event !== "error") this._emit("error", e); }
    }
  }

  _open() {
    this._state = this.attempt === 0 ? "connecting" : "reconnecting";
    const ws = new this.WS(this.url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this._state = "open";
      this._emit("open");
      const pending = this.queue;
      this.queue = [];
      for (const m of pending) ws.send(m);
    };
    ws.onmessage = (e) => this._message(e.data);
    ws.onerror = (e) => this._emit("error", e);
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this._emit("close", e);
      if (this.closed) { this._state = "closed"; return; }
      this._state = "reconnecting";
      const delay = this._delay();
      this._emit("reconnecting", delay);
      this.timer(() => { if (!this.closed) this._open(); }, delay);
    };
  }

  _message(data) {
    if (typeof data === "string" && this.opts.ping !== undefined && data === this.opts.ping) {
      if (this.opts.pong !== undefined) this.send(this.opts.pong);
      return;
    }
    this._emit("message", data);
    if (typeof data === "string" && this.handlers.has("json")) {
      let v;
      try { v = JSON.parse(data); } catch { return; }
      this._emit("json", v);
    }
  }

  // Exponential backoff with full jitter between half and the whole step.
  _delay() {
    const step = Math.min(this.opts.maxDelay, this.opts.minDelay * 2 ** this.attempt);
    this.attempt++;
    return Math.round(step / 2 + Math.random() * step / 2);
  }
}
