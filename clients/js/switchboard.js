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
 * @property {number} [connectTimeout=10000] a connection not open within this many ms is given up and retried; 0: no limit
 * @property {typeof WebSocket} [WebSocket] the WebSocket class (tests inject one)
 * @property {(fn: () => void, ms: number) => any} [setTimeout] timer (tests inject one)
 * @property {(handle: any) => void} [clearTimeout] cancels a timer of setTimeout (tests inject one)
 */

/** @typedef {"connecting"|"open"|"reconnecting"|"closed"} State */

/**
 * A WebSocket connection to a Switchboard gateway that stays up by itself.
 *
 * Events (`on(event, fn)`, or an `on<event>` property such as `onjson`):
 * "open", "close" (CloseEvent), "message" (string or ArrayBuffer),
 * "json" (each text message that parses as JSON), "reconnecting" (delay in
 * ms), "drop" (a queued message pushed out of the full queue), "error".
 */
export class Switchboard {
  /**
   * @param {string} url  ws:// or wss:// URL of the gateway
   * @param {Options} [options]
   */
  constructor(url, options = {}) {
    this.url = url;
    this.opts = { minDelay: 500, maxDelay: 10000, maxQueue: 100, connectTimeout: 10000, ...options };
    this.WS = this.opts.WebSocket || globalThis.WebSocket;
    this.timer = this.opts.setTimeout || ((fn, ms) => setTimeout(fn, ms));
    this.untimer = this.opts.clearTimeout || ((h) => clearTimeout(h));
    /** @type {Map<string, Set<Function>>} */
    this.handlers = new Map();
    this.queue = [];
    this.attempt = 0;    // failed connections since the last open
    this.ws = null;      // the current socket
    this.pending = null; // token of the scheduled reconnect
    this.stopped = true; // true before connect() and after close()
    this._state = "closed";
  }

  /** @returns {State} "connecting", "open", "reconnecting" or "closed" */
  get state() { return this._state; }

  /**
   * Connects, and keeps reconnecting until close(). Does nothing if
   * already started.
   * @returns {this}
   */
  connect() {
    if (!this.stopped) return this;
    this.stopped = false;
    this.attempt = 0;
    this._open();
    return this;
  }

  /**
   * Registers a callback for an event.
   * @param {string} event
   * @param {Function} fn
   * @returns {this}
   */
  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(fn);
    return this;
  }

  /**
   * Removes a callback registered with on().
   * @param {string} event
   * @param {Function} fn
   * @returns {this}
   */
  off(event, fn) {
    this.handlers.get(event)?.delete(fn);
    return this;
  }

  /**
   * Sends a text (or binary) message. While disconnected it waits in the
   * queue and is sent, in order, once connected; beyond maxQueue the oldest
   * queued message is dropped and reported with "drop".
   * @param {string|ArrayBuffer|ArrayBufferView|Blob} data
   */
  send(data) {
    if (this._state === "open" && this.ws.readyState === this.WS.OPEN) {
      this.ws.send(data);
      return;
    }
    this.queue.push(data);
    while (this.queue.length > this.opts.maxQueue) this._emit("drop", this.queue.shift());
  }

  /**
   * Sends a value as a JSON text message (queued like send()).
   * @param {unknown} value
   */
  sendJSON(value) { this.send(JSON.stringify(value)); }

  /** Closes the connection and stops reconnecting; connect() starts again. */
  close() {
    this.stopped = true;
    this.pending = null;
    this._state = "closed";
    if (this.ws) this.ws.close(1000);
  }

  _emit(event, arg) {
    const prop = this["on" + event];
    const fns = [...(this.handlers.get(event) || [])];
    if (typeof prop === "function") fns.push(prop);
    for (const fn of fns) {
      try { fn.call(this, arg); } catch (e) { if (event !== "error") this._emit("error", e); }
    }
  }

  _wants(event) {
    return this.handlers.get(event)?.size > 0 || typeof this["on" + event] === "function";
  }

  _open() {
    this._state = this.attempt === 0 ? "connecting" : "reconnecting";
    let ws;
    try {
      ws = new this.WS(this.url);
    } catch (e) {
      // A URL the constructor refuses: report it and try again later.
      this.ws = null;
      this._emit("error", e);
      this._failed(null, { code: 1006, reason: "connect failed", wasClean: false });
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let opened = false;
    let deadline = null; // the connect timeout's timer
    const stopDeadline = () => {
      if (deadline !== null) this.untimer(deadline);
      deadline = null;
    };
    // A socket that fails before it opens may fire "error" and never
    // "close" (Node 20's WebSocket on a refused connection), or hang: both
    // count as a failed attempt, once, like a close.
    const giveUp = (reason) => {
      stopDeadline();
      if (this.ws !== ws) return;
      this._failed(ws, { code: 1006, reason, wasClean: false });
      // After _failed, so that the close event this may fire is ignored.
      try { ws.close(); } catch { /* not open yet: nothing to close */ }
    };
    if (this.opts.connectTimeout > 0) {
      deadline = this.timer(() => { deadline = null; if (!opened) giveUp("connect timeout"); }, this.opts.connectTimeout);
    }
    ws.onopen = () => {
      if (this.ws !== ws) return;
      opened = true;
      stopDeadline();
      this.attempt = 0;
      this._state = "open";
      // "open" handlers run first, so what they send (a login) goes
      // ahead of the messages queued while disconnected.
      this._emit("open");
      if (this.ws !== ws || this._state !== "open") return;
      const queued = this.queue;
      this.queue = [];
      for (const m of queued) this.send(m);
    };
    ws.onmessage = (e) => { if (this.ws === ws) this._message(e.data); };
    ws.onerror = (e) => {
      if (this.ws !== ws || this.stopped) return;
      this._emit("error", e);
      if (!opened) giveUp("connect failed");
    };
    ws.onclose = (e) => {
      stopDeadline();
      this._failed(ws, e);
    };
  }

  // _failed ends the socket ws (null: none was made): "close", then a
  // reconnect after a delay unless close() was called. It acts once per
  // socket: a later close or error of the same socket is ignored.
  _failed(ws, e) {
    if (this.ws !== ws) return;
    this.ws = null;
    if (this.stopped) this._state = "closed";
    else this._state = "reconnecting";
    this._emit("close", e);
    if (this.stopped) return;
    const delay = this._delay();
    const token = (this.pending = {});
    this._emit("reconnecting", delay);
    this.timer(() => {
      if (this.pending !== token || this.stopped) return;
      this.pending = null;
      this._open();
    }, delay);
  }

  _message(data) {
    if (typeof data === "string" && this.opts.ping !== undefined && data === this.opts.ping) {
      if (this.opts.pong !== undefined) this.send(this.opts.pong);
      return;
    }
    this._emit("message", data);
    if (typeof data !== "string" || !this._wants("json")) return;
    let value;
    try { value = JSON.parse(data); } catch { return; }
    this._emit("json", value);
  }

  // Exponential backoff with "equal jitter": a random delay between half
  // and all of min(maxDelay, minDelay * 2^attempt).
  _delay() {
    const step = Math.min(this.opts.maxDelay, this.opts.minDelay * 2 ** this.attempt);
    this.attempt++;
    return Math.round(step / 2 + Math.random() * (step / 2));
  }
}
