import { test } from "node:test";
import assert from "node:assert/strict";
import { Switchboard } from "../switchboard.js";

// FakeSocket records what is sent and lets the test open, close and
// deliver messages.
class FakeSocket {
  static all = [];
  constructor(url) { this.url = url; this.sent = []; FakeSocket.all.push(this); }
  send(d) { this.sent.push(d); }
  close() { this.onclose?.({ code: 1000 }); }
  open() { this.onopen?.(); }
  drop() { this.onclose?.({ code: 1006 }); }
  deliver(data) { this.onmessage?.({ data }); }
}

function client(opts = {}) {
  FakeSocket.all = [];
  const timers = [];
  const sb = new Switchboard("ws://x/ws", { WebSocket: FakeSocket, setTimeout: (fn, ms) => timers.push({ fn, ms }), ...opts });
  return { sb, timers, last: () => FakeSocket.all.at(-1) };
}

test("queues while disconnected and flushes in order on open", () => {
  const { sb, last } = client();
  sb.connect();
  sb.send("a"); sb.sendJSON({ b: 1 });
  assert.deepEqual(last().sent, []);
  last().open();
  assert.deepEqual(last().sent, ["a", '{"b":1}']);
  sb.send("c");
  assert.deepEqual(last().sent, ["a", '{"b":1}', "c"]);
  assert.equal(sb.state, "open");
});

test("the queue is bounded and reports drops", () => {
  const { sb, last } = client({ maxQueue: 2 });
  const dropped = [];
  sb.on("drop", (m) => dropped.push(m));
  sb.connect();
  for (const m of ["1", "2", "3", "4"]) sb.send(m);
  assert.deepEqual(dropped, ["1", "2"]);
  last().open();
  assert.deepEqual(last().sent, ["3", "4"]);
});

test("reconnects with growing jittered delays, reset after a success", () => {
  const { sb, timers, last } = client({ minDelay: 100, maxDelay: 1000 });
  const states = [];
  sb.on("reconnecting", () => states.push(sb.state));
  sb.connect();
  last().open();
  for (let i = 0; i < 5; i++) { last().drop(); timers.at(-1).fn(); }
  const delays = timers.map((t) => t.ms);
  const steps = [100, 200, 400, 800, 1000];
  delays.forEach((d, i) => assert.ok(d >= steps[i] / 2 && d <= steps[i], `delay ${i}: ${d} not in [${steps[i] / 2}, ${steps[i]}]`));
  assert.ok(states.every((s) => s === "reconnecting"));
  last().open();
  last().drop();
  assert.ok(timers.at(-1).ms <= 100, "backoff restarts after a successful connection");
});

test("answers the gateway's ping and does not surface it", () => {
  const { sb, last } = client({ ping: '{"type":"ping"}', pong: '{"type":"pong"}' });
  const seen = [];
  sb.on("message", (m) => seen.push(m));
  sb.connect(); last().open();
  last().deliver('{"type":"ping"}');
  last().deliver("hello");
  assert.deepEqual(last().sent, ['{"type":"pong"}']);
  assert.deepEqual(seen, ["hello"]);
});

test("json event parses JSON messages and skips others", () => {
  const { sb, last } = client();
  const got = [];
  sb.on("json", (v) => got.push(v));
  sb.connect(); last().open();
  last().deliver('{"a":1}'); last().deliver("not json");
  assert.deepEqual(got, [{ a: 1 }]);
});

test("close stops reconnecting", () => {
  const { sb, timers, last } = client();
  sb.connect(); last().open();
  sb.close();
  assert.equal(timers.length, 0);
  assert.equal(sb.state, "closed");
  const n = FakeSocket.all.length;
  last().drop();
  assert.equal(FakeSocket.all.length, n);
});
