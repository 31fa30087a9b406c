// Unit tests for switchboard.js with Node's built-in runner (no packages):
//   node --test clients/js/test/
import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { Switchboard } from "../switchboard.js";

// FakeSocket stands in for the browser's WebSocket: it records what is
// sent and lets the test open, drop and deliver, as a gateway would.
class FakeSocket {
  static OPEN = 1;
  static all = [];
  constructor(url) { this.url = url; this.sent = []; this.readyState = 0; FakeSocket.all.push(this); }
  send(d) {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(d);
  }
  close(code) { this.closedWith = code; this.readyState = 3; this.onclose?.({ code: code ?? 1005 }); }
  open() { this.readyState = 1; this.onopen?.({}); }
  drop() { this.readyState = 3; this.onclose?.({ code: 1006 }); }
  deliver(data) { this.onmessage?.({ data }); }
}

// client returns a Switchboard on FakeSocket whose reconnect timers are
// recorded, not run: the test fires them with timers.at(-1).fn().
function client(opts = {}) {
  FakeSocket.all = [];
  const timers = [];
  const sb = new Switchboard("ws://gw/ws", {
    WebSocket: FakeSocket,
    setTimeout: (fn, ms) => timers.push({ fn, ms }),
    clearTimeout: (handle) => { timers[handle - 1].cleared = true; },
    connectTimeout: 0, // the connect timeout tests turn it on
    ...opts,
  });
  return { sb, timers, last: () => FakeSocket.all.at(-1) };
}

const realRandom = Math.random;
afterEach(() => { Math.random = realRandom; });

test("queues while disconnected and flushes in order on open", () => {
  const { sb, last } = client();
  sb.send("early");
  sb.connect();
  assert.equal(sb.state, "connecting");
  sb.send("a"); sb.sendJSON({ b: 1 });
  assert.deepEqual(last().sent, []);
  last().open();
  assert.equal(sb.state, "open");
  assert.deepEqual(last().sent, ["early", "a", '{"b":1}']);
  sb.send("c");
  assert.deepEqual(last().sent, ["early", "a", '{"b":1}', "c"]);
});

test("what open handlers send goes ahead of the queue (a login first)", () => {
  const { sb, timers, last } = client();
  sb.on("open", () => sb.sendJSON({ type: "login" }));
  sb.connect(); last().open();
  last().drop();
  sb.send("typed while away");
  timers.at(-1).fn(); last().open();
  assert.deepEqual(last().sent, ['{"type":"login"}', "typed while away"]);
});

test("the queue is bounded and reports drops, oldest first", () => {
  const { sb, last } = client({ maxQueue: 2 });
  const dropped = [];
  sb.on("drop", (m) => dropped.push(m));
  sb.connect();
  for (const m of ["1", "2", "3", "4"]) sb.send(m);
  assert.deepEqual(dropped, ["1", "2"]);
  last().open();
  assert.deepEqual(last().sent, ["3", "4"]);
});

test("the default queue holds 100 messages", () => {
  const { sb, last } = client();
  let drops = 0;
  sb.on("drop", () => drops++);
  for (let i = 0; i < 105; i++) sb.send(String(i));
  assert.equal(drops, 5);
  sb.connect(); last().open();
  assert.equal(last().sent.length, 100);
  assert.equal(last().sent[0], "5");
});

test("a message sent while the socket is closing is queued, not lost", () => {
  const { sb, timers, last } = client();
  sb.connect(); last().open();
  last().readyState = 2; // CLOSING: the close event has not fired yet
  sb.send("in flight");
  last().drop();
  timers.at(-1).fn(); last().open();
  assert.deepEqual(last().sent, ["in flight"]);
});

test("reconnects with growing jittered delays, reset after a success", () => {
  const { sb, timers, last } = client({ minDelay: 100, maxDelay: 1000 });
  const states = [];
  const reported = [];
  sb.on("reconnecting", (ms) => { states.push(sb.state); reported.push(ms); });
  sb.connect(); last().open();
  for (let i = 0; i < 6; i++) { last().drop(); timers.at(-1).fn(); }
  assert.equal(FakeSocket.all.length, 7, "one new socket per timer");
  const delays = timers.map((t) => t.ms);
  assert.deepEqual(reported, delays);
  const steps = [100, 200, 400, 800, 1000, 1000];
  delays.forEach((d, i) => assert.ok(d >= steps[i] / 2 && d <= steps[i], `delay ${i}: ${d} not in [${steps[i] / 2}, ${steps[i]}]`));
  assert.ok(states.every((s) => s === "reconnecting"));
  assert.equal(sb.state, "reconnecting", "a new attempt after a failure is 'reconnecting'");
  last().open();
  last().drop();
  assert.ok(timers.at(-1).ms <= 100, "backoff restarts after a successful connection");
});

test("delays are jittered between half and all of the step", () => {
  for (const [r, want] of [[0, [250, 500, 1000, 2000, 4000, 5000, 5000]], [0.999999, [500, 1000, 2000, 4000, 8000, 10000, 10000]]]) {
    Math.random = () => r;
    const { sb, timers, last } = client();
    sb.connect();
    for (let i = 0; i < want.length; i++) { last().drop(); timers.at(-1).fn(); }
    assert.deepEqual(timers.map((t) => t.ms), want, `Math.random() = ${r}`);
  }
});

test("answers the gateway's ping and does not surface it", () => {
  const { sb, last } = client({ ping: '{"type":"ping"}', pong: '{"type":"pong"}' });
  const seen = [], json = [];
  sb.on("message", (m) => seen.push(m));
  sb.on("json", (v) => json.push(v));
  sb.connect(); last().open();
  last().deliver('{"type":"ping"}');
  last().deliver('{"type":"say"}');
  assert.deepEqual(last().sent, ['{"type":"pong"}']);
  assert.deepEqual(seen, ['{"type":"say"}']);
  assert.deepEqual(json, [{ type: "say" }]);
});

test("without the ping option a ping is an ordinary message", () => {
  const { sb, last } = client();
  const seen = [];
  sb.on("message", (m) => seen.push(m));
  sb.connect(); last().open();
  last().deliver('{"type":"ping"}');
  assert.deepEqual(seen, ['{"type":"ping"}']);
  assert.deepEqual(last().sent, []);
});

test("json event (on() or onjson) parses JSON messages and skips others", () => {
  const { sb, last } = client();
  const got = [], prop = [];
  sb.on("json", (v) => got.push(v));
  sb.onjson = (v) => prop.push(v);
  sb.connect(); last().open();
  last().deliver('{"a":1}'); last().deliver("not json"); last().deliver("[2]");
  assert.deepEqual(got, [{ a: 1 }, [2]]);
  assert.deepEqual(prop, got);
});

test("binary messages surface as ArrayBuffer, not as json", () => {
  const { sb, last } = client();
  const msgs = [];
  let json = 0;
  sb.on("message", (m) => msgs.push(m));
  sb.on("json", () => json++);
  sb.connect();
  assert.equal(last().binaryType, "arraybuffer");
  last().open();
  const buf = new Uint8Array([1, 2, 3]).buffer;
  last().deliver(buf);
  assert.equal(msgs[0], buf);
  assert.equal(json, 0);
});

test("off removes a callback; a throwing callback becomes an error event", () => {
  const { sb, last } = client();
  const seen = [], errors = [];
  const fn = (m) => seen.push(m);
  sb.on("message", fn);
  sb.on("message", () => { throw new Error("boom"); });
  sb.on("error", (e) => errors.push(e.message));
  sb.connect(); last().open();
  last().deliver("one");
  sb.off("message", fn);
  last().deliver("two");
  assert.deepEqual(seen, ["one"]);
  assert.deepEqual(errors, ["boom", "boom"]);
});

test("close stops reconnecting", () => {
  const { sb, timers, last } = client();
  const closes = [];
  sb.on("close", (e) => closes.push(e.code));
  sb.connect(); last().open();
  sb.close();
  assert.equal(last().closedWith, 1000);
  assert.deepEqual(closes, [1000]);
  assert.equal(timers.length, 0);
  assert.equal(sb.state, "closed");
  sb.send("later");
  assert.deepEqual(last().sent, [], "sent after close: queued, not written");
});

test("close during a reconnect delay cancels it, even after a new connect()", () => {
  const { sb, timers, last } = client();
  sb.connect(); last().open();
  last().drop();
  assert.equal(timers.length, 1);
  sb.close();
  timers[0].fn();
  assert.equal(FakeSocket.all.length, 1, "the timer did not reconnect");
  sb.connect();
  assert.equal(FakeSocket.all.length, 2);
  timers[0].fn(); // a stale timer must not open a second socket
  assert.equal(FakeSocket.all.length, 2);
  assert.equal(sb.state, "connecting");
});

test("connect twice opens one socket", () => {
  const { sb } = client();
  sb.connect(); sb.connect();
  assert.equal(FakeSocket.all.length, 1);
});

test("an error before open with no close (Node 20, connection refused) is a failure: it retries", () => {
  const { sb, timers, last } = client();
  const closes = [];
  sb.on("close", (e) => closes.push(e.code));
  sb.connect();
  const first = last();
  first.onerror({ type: "error" }); // no close follows
  assert.equal(sb.state, "reconnecting");
  assert.deepEqual(closes, [1006]);
  assert.equal(timers.length, 1, "a reconnect is scheduled");
  timers[0].fn();
  assert.equal(FakeSocket.all.length, 2, "a new attempt");
  first.onclose?.({ code: 1006 }); // a late close of the failed socket changes nothing
  assert.equal(timers.length, 1);
  assert.equal(closes.length, 1);
  last().open();
  assert.equal(sb.state, "open");
});

test("a connection that does not open within connectTimeout is given up and retried", () => {
  const { sb, timers, last } = client({ connectTimeout: 5000 });
  sb.connect();
  const first = last();
  assert.deepEqual(timers.map((t) => t.ms), [5000]);
  timers[0].fn(); // the socket hangs: the deadline passes
  assert.equal(first.readyState, 3, "the hung socket was closed");
  assert.equal(sb.state, "reconnecting");
  assert.equal(timers.length, 2, "one reconnect scheduled");
  timers[1].fn();
  assert.equal(FakeSocket.all.length, 2);
  last().open();
  assert.equal(timers[2].ms, 5000);
  assert.ok(timers[2].cleared, "the open cancelled the connect timeout");
  assert.equal(sb.state, "open");
});

test("a refused connection is retried with the real WebSocket", {
  skip: typeof globalThis.WebSocket !== "function" && "no global WebSocket (Node 20: node --experimental-websocket --test)",
}, async () => {
  const net = await import("node:net");
  const port = await new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
  let attempts = 0;
  class Counting extends globalThis.WebSocket {
    constructor(url) { super(url); attempts++; }
  }
  const sb = new Switchboard(`ws://127.0.0.1:${port}/`, { WebSocket: Counting, minDelay: 10, maxDelay: 20, connectTimeout: 2000 });
  sb.on("error", () => {});
  sb.connect();
  const deadline = Date.now() + 5000;
  while (attempts < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  sb.close();
  assert.ok(attempts >= 3, `only ${attempts} connection attempts in 5 s: it stopped retrying`);
});
