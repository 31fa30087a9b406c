// The Switchboard chat demo's worker in JavaScript: the same chat as
// examples/chat/chat.go, speaking only what docs/protocol.md specifies.
// Events come from the "workers" queue group (§3, §5), alone or in batches
// (§5.7); each is answered with frames and a session patch (§5.2); group
// changes are requests to the client's gateway (§6); room messages go to the
// group subject (§7); the room's users come from a scatter-gather query (§8).
//
// Run: NATS_URL=nats://127.0.0.1:4222 SB_PREFIX=sb node worker.mjs
import { connect, headers, createInbox } from "nats";
import os from "node:os";
import { sessionPatch } from "./session.mjs"; // §4 "Sessions": recursive merge, null removes

const prefix = process.env.SB_PREFIX || "sb";
const servers = process.env.NATS_URL || "nats://127.0.0.1:4222";
const TIMEOUT = 5000; // ms, like bus.DefaultTimeout
const MAX_NAME = 32, MAX_TEXT = 2000; // bytes, as in chat.go

const enc = new TextEncoder(), dec = new TextDecoder();
const bytes = (s) => Buffer.byteLength(s, "utf8");
const log = (...a) => console.error("node worker:", ...a);

// ---- protocol helpers (docs/protocol.md) ----------------------------------

// §2 Name tokens: plain names as they are, anything else "~" + base64url.
const PLAIN = /^[A-Za-z0-9_-]{1,128}$/;
const token = (name) => (PLAIN.test(name) ? name : "~" + Buffer.from(name, "utf8").toString("base64url"));

// §2 Client ids: "<gw>-<seq>", split at the first "-".
const gatewayOf = (clientId) => clientId.slice(0, clientId.indexOf("-"));

function hdrs(fields) {
  const h = headers();
  for (const [k, v] of Object.entries(fields)) h.set(k, v); // exact case (§4)
  return h;
}

// §6 A command request to the client's gateway. No responders (the gateway is
// gone) rejects, like an error answer.
async function command(clientId, op, extra = {}, data = new Uint8Array()) {
  const m = await nc.request(`${prefix}.gw.${gatewayOf(clientId)}.c`, data, {
    timeout: TIMEOUT,
    headers: hdrs({ "Sb-Op": op, "Sb-Client": clientId, ...extra }),
  });
  if (m.headers?.get("Sb-Status") === "error") {
    throw new Error(`${op}: ${m.headers.get("Sb-Error")}: ${m.headers.get("Sb-Reason")}`);
  }
}

const joinGroup = (clientId, group) => command(clientId, "join", { "Sb-Group": token(group) });
const leaveGroup = (clientId, group) => command(clientId, "leave", { "Sb-Group": token(group) });
const updateSession = (clientId, patch) => command(clientId, "session.update", {}, enc.encode(JSON.stringify(patch)));

// §7 A group send is a plain publish to <p>.grp.<token>.
// Sb-Exclude lists client ids that must not receive it.
const sendToGroup = (group, frame, exclude = []) =>
  nc.publish(`${prefix}.grp.${token(group)}`, encodeFrame(frame),
    exclude.length ? { headers: hdrs({ "Sb-Exclude": exclude.join(",") }) } : undefined);

// §8 Scatter-gather: publish a list query with our own inbox and collect
// answers until every gateway named in any Sb-Gateway/Sb-Gateways answered.
// A deadline fails the query (never a partial result); no responders means
// no gateway, an empty answer. Returns [{id, session}] for the group.
async function groupSessions(group) {
  const inbox = createInbox();
  const sub = nc.subscribe(inbox);
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; sub.unsubscribe(); }, TIMEOUT);
  const expected = new Set(), answers = new Map();
  try {
    nc.publish(`${prefix}.q`, new Uint8Array(), {
      reply: inbox,
      headers: hdrs({ "Sb-Query": "list", "Sb-Group": token(group), "Sb-Fields": "session" }),
    });
    for await (const m of sub) {
      if (m.headers?.code === 503) return []; // no responders: no gateway runs
      const gw = m.headers?.get("Sb-Gateway") || "";
      if (m.headers?.get("Sb-Status") !== "ok") {
        throw new Error(`query list: gateway ${gw}: ${m.headers?.get("Sb-Error")}: ${m.headers?.get("Sb-Reason")}`);
      }
      answers.set(gw, JSON.parse(dec.decode(m.data)).clients || []);
      expected.add(gw);
      for (const id of (m.headers.get("Sb-Gateways") || "").split(",")) if (id) expected.add(id);
      if ([...expected].every((id) => answers.has(id))) {
        return [...answers.values()].flat().map((c) => ({ id: c.id, session: c.session || {} }));
      }
    }
    const missing = [...expected].filter((id) => !answers.has(id)).sort();
    throw new Error(`query list: ${answers.size} answers, missing [${missing.join(" ")}]: ${timedOut ? "timeout" : "closed"}`);
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
}

// ---- the chat protocol (examples/chat/chat.go) ----------------------------

// decodeFrame parses a client message the way Go's json.Unmarshal fills
// chat.Frame: null is an empty frame, keys match case-insensitively, and a
// non-object or a field of the wrong type is malformed (returns null).
const FIELDS = { type: "string", client_id: "string", name: "string", room: "string", text: "string", message: "string", time: "time", users: "array" };
function decodeFrame(text) {
  let v;
  try { v = JSON.parse(text); } catch { return null; }
  if (v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) return null;
  const out = {};
  for (const [k, val] of Object.entries(v)) {
    const field = Object.keys(FIELDS).find((f) => f === k) || Object.keys(FIELDS).find((f) => f === k.toLowerCase());
    if (!field || val === null) continue;
    const want = FIELDS[field];
    if (want === "array" ? !Array.isArray(val) : typeof val !== "string") return null;
    if (want === "time" && Number.isNaN(Date.parse(val))) return null;
    out[field] = val;
  }
  return out;
}

// encodeFrame drops empty fields, like the Go struct's omitempty tags.
const encodeFrame = (f) =>
  enc.encode(JSON.stringify(Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined && v !== ""))));

// Go's strings.TrimSpace (unicode.IsSpace) and byte-wise truncation.
const trimSpace = (s) => s.replace(/^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g, "");
// truncateBytes is Go's s[:n] of chat.go: it may split the last character,
// and json.Marshal then writes one U+FFFD for each stray byte.
function truncateBytes(s, n) {
  const b = Buffer.from(s, "utf8");
  if (b.length <= n) return s;
  let i = n - 1; // find the lead byte of the character that holds byte n-1
  while (i > 0 && (b[i] & 0xc0) === 0x80) i--;
  const len = b[i] >= 0xf0 ? 4 : b[i] >= 0xe0 ? 3 : b[i] >= 0xc0 ? 2 : 1;
  if (i + len <= n) return b.subarray(0, n).toString("utf8");
  return b.subarray(0, i).toString("utf8") + "\ufffd".repeat(n - i);
}

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z"); // UTC, whole seconds
const roomOrLobby = (room) => {
  room = trimSpace(room || "");
  return room === "" || bytes(room) > MAX_NAME ? "lobby" : room;
};
const byteOrder = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)); // strings.Compare

// OnMessage: one chat frame. ctx.session is the session, ctx.reply(frame)
// sends to the current client.
async function onMessage(ctx, data) {
  const inp = decodeFrame(dec.decode(data));
  if (!inp) return ctx.reply({ type: "error", message: "malformed message" });
  const s = ctx.session;
  let name = typeof s.name === "string" ? s.name : "";
  const room = typeof s.room === "string" ? s.room : "";
  switch (inp.type || "") {
    case "login": {
      const newName = trimSpace(inp.name || "");
      if (newName === "" || bytes(newName) > MAX_NAME) return ctx.reply({ type: "error", message: "name required (1-32 characters)" });
      if (room !== "") await leave(ctx, name, room); // logging in again: the old room hears the old name leave
      return enter(ctx, newName, roomOrLobby(inp.room));
    }
    case "room":
      if (name === "") return ctx.reply({ type: "error", message: "login first" });
      await leave(ctx, name, room);
      return enter(ctx, name, roomOrLobby(inp.room));
    case "say":
      if (name === "") return ctx.reply({ type: "error", message: "login first" });
      return sendToGroup(room, { type: "say", client_id: ctx.clientId, name, room, text: truncateBytes(inp.text || "", MAX_TEXT), time: now() });
    case "pong":
      return;
    default:
      return ctx.reply({ type: "error", message: `unknown type ${JSON.stringify(inp.type || "")}` });
  }
}

// OnClose: tell the room that the user left.
function onClose(ctx) {
  const { name, room } = ctx.session;
  if (typeof name !== "string" || typeof room !== "string" || name === "" || room === "") return;
  sendToGroup(room, { type: "leave", client_id: ctx.clientId, name, room, time: now() });
}

// enter as chat.go does it, in the same order: the name into the session
// at the gateway (ctx.session is applied only with the reply), join,
// announce, then list. Two users entering together each either list the
// other or hear its join notice.
async function enter(ctx, name, room) {
  ctx.session.name = name;
  ctx.session.room = room;
  await updateSession(ctx.clientId, { name, room });
  await joinGroup(ctx.clientId, room);
  sendToGroup(room, { type: "join", client_id: ctx.clientId, name, room, time: now() }, [ctx.clientId]);
  const users = [{ client_id: ctx.clientId, name }];
  for (const c of await groupSessions(room)) {
    const n = c.session.name;
    if (typeof n === "string" && n !== "" && c.id !== ctx.clientId) users.push({ client_id: c.id, name: n });
  }
  users.sort((a, b) => byteOrder(a.name, b.name));
  ctx.reply({ type: "welcome", client_id: ctx.clientId, name, room, users });
}

async function leave(ctx, name, room) {
  if (room === "") return;
  await leaveGroup(ctx.clientId, room);
  sendToGroup(room, { type: "leave", client_id: ctx.clientId, name, room, time: now() });
}

// ---- events (§5) ----------------------------------------------------------

// §5.1 Sb-Deadline: the Unix time in ms when the gateway stops waiting for
// this attempt of the event. One that passed more than DEADLINE_SKEW ms ago
// (the bound within which this machine's clock must agree with the
// gateways') has been resent or dropped by its gateway: it is skipped and
// not answered, like the Go worker does. An unreadable value counts as
// passed; no header (an older gateway) as none.
const DEADLINE_SKEW = 1000;
let staleSkipped = 0, staleLogged = 0;
function stale(kind, m) {
  const v = m.headers?.get("Sb-Deadline") || "";
  if (v === "") return false;
  const deadline = /^[1-9][0-9]{0,15}$/.test(v) ? Number(v) : 0;
  const now = Date.now();
  if (now <= deadline + DEADLINE_SKEW) return false;
  staleSkipped++;
  if (now - staleLogged >= 1000) { // at most one line a second
    staleLogged = now;
    log(`stale events skipped: ${kind} of ${m.headers?.get("Sb-Client")}, ${now - deadline} ms late; ${staleSkipped} so far`);
  }
  return true;
}

// handle runs one event and always answers it (§5.2): the client's next
// event waits for this reply. Like the Go worker, a failed handler still
// sends the frames and session changes it made before failing. An event
// whose deadline passed is neither run nor answered (stale above).
async function handle(kind, m) {
  if (stale(kind, m)) return;
  const ctx = { clientId: m.headers?.get("Sb-Client") || "", session: {}, frames: [] };
  ctx.reply = (frame) => ctx.frames.push(encodeFrame(frame));
  let original = {};
  try {
    const raw = m.headers?.get("Sb-Session");
    if (raw) {
      const s = JSON.parse(raw);
      if (s && typeof s === "object" && !Array.isArray(s)) original = s;
    }
    ctx.session = structuredClone(original);
    if (kind === "message") await onMessage(ctx, m.data);
    if (kind === "close") onClose(ctx);
  } catch (err) {
    log(`${kind} of ${ctx.clientId} failed:`, err?.message || err);
  }
  const h = hdrs({ "Sb-Status": "ok" });
  if (ctx.frames.length) h.set("Sb-Frames", ctx.frames.map((f) => f.length).join(","));
  const patch = sessionPatch(original, ctx.session);
  if (patch) h.set("Sb-Session-Update", JSON.stringify(patch));
  try {
    m.respond(Buffer.concat(ctx.frames), { headers: h });
  } catch (err) {
    log(`reply to ${kind} of ${ctx.clientId}:`, err?.message || err);
  }
}

// §5.7 Event batches: a busy gateway puts the message events of several
// clients into one message on <p>.evb.message. splitBatch checks that the
// reply subject <p>.gw.<gw>.b.<seq1>.<ev1>…, the Sb-Frames entries, the
// Sb-Remote lines and the Sb-Session lines (when present) agree, and that
// the lengths add up to the body, as bus.SplitEventBatch does. It returns
// the events as single message events (§5.1) that answer on their own reply
// subjects, or throws for a malformed batch.
const BASE36 = /^[0-9a-z]{1,13}$/, FRAME = /^(b?)(0|[1-9][0-9]*)$/;
function splitBatch(m) {
  const bad = (why) => new Error(`malformed event batch: ${why}`);
  const start = `${prefix}.gw.`;
  if (!m.reply?.startsWith(start)) throw bad(`reply subject ${JSON.stringify(m.reply)}`);
  const rest = m.reply.slice(start.length), cut = rest.indexOf(".b.");
  const gw = cut < 0 ? "" : rest.slice(0, cut);
  const pairs = cut < 0 ? [] : rest.slice(cut + 3).split(".");
  if (gw === "" || gw.includes(".") || pairs.length % 2 !== 0 || pairs.some((p) => p === "")) {
    throw bad(`reply subject ${JSON.stringify(m.reply)}`);
  }
  const n = pairs.length / 2;
  const remotes = m.headers?.values("Sb-Remote") || [];
  const sessions = m.headers?.values("Sb-Session") || []; // empty values stay: a client without a session
  if (remotes.length !== n || (sessions.length !== 0 && sessions.length !== n)) {
    throw bad(`${n} events, ${remotes.length} remote and ${sessions.length} session values`);
  }
  const spec = m.headers?.get("Sb-Frames") || "";
  const deadline = m.headers?.get("Sb-Deadline") || "";
  const sizes = spec.split(",");
  if (sizes.length !== n) throw bad(`${n} events and frame list ${JSON.stringify(spec)}`);
  const data = m.data || new Uint8Array();
  const events = [];
  let off = 0;
  sizes.forEach((size, i) => {
    const f = FRAME.exec(size);
    const seq = pairs[2 * i], ev = pairs[2 * i + 1];
    if (!f) throw bad(`frame list ${JSON.stringify(spec)}`);
    if (!BASE36.test(seq)) throw bad(`client token ${JSON.stringify(seq)}`);
    const len = Number(f[2]);
    if (off + len > data.length) throw bad(`frame list ${JSON.stringify(spec)} longer than the body (${data.length} bytes)`);
    const h = hdrs({ "Sb-Client": `${gw}-${seq.replace(/^0+(?=.)/, "")}`, "Sb-Remote": remotes[i] });
    if (sessions.length !== 0 && sessions[i] !== "") h.set("Sb-Session", sessions[i]);
    if (f[1] === "b") h.set("Sb-Binary", "1");
    if (deadline) h.set("Sb-Deadline", deadline); // one for the whole batch
    const reply = `${prefix}.gw.${gw}.r.${seq}.${ev}`; // the event's own reply subject
    events.push({ headers: h, data: data.subarray(off, off + len), respond: (body, opts) => nc.publish(reply, body, opts) });
    off += len;
  });
  if (off !== data.length) throw bad(`frame list covers ${off} of ${data.length} body bytes`);
  return events;
}

// handleBatch runs each event of a batch exactly as if it had come alone,
// concurrently (they belong to different clients). A malformed batch is
// logged and dropped, none of it answered: the gateway redelivers its events
// alone after event_timeout. Nothing is ever sent to the batch's reply subject.
function handleBatch(m) {
  let events;
  try {
    events = splitBatch(m);
  } catch (err) {
    log("event batch dropped:", err?.message || err);
    return Promise.resolve();
  }
  return Promise.all(events.map((ev) => handle("message", ev)));
}

// ---- main -----------------------------------------------------------------

const nc = await connect({ servers, name: "switchboard-node-worker", maxReconnectAttempts: -1 });
(async () => { for await (const s of nc.status()) if (s.type === "disconnect" || s.type === "reconnect") log(s.type, s.data); })();

const inflight = new Set();
let handled = 0; // events answered, for the heartbeat (§9.1)
// One subscription per event kind, plus <p>.evb.message for the batches of
// message events (§5.7), all in queue group "workers".
const subjects = [
  ...["connect", "message", "close"].map((kind) => [`${prefix}.ev.${kind}`, (m) => handle(kind, m)]),
  [`${prefix}.evb.message`, handleBatch],
];
const subs = subjects.map(([subject, run]) => {
  const sub = nc.subscribe(subject, { queue: "workers" });
  const loop = (async () => {
    for await (const m of sub) {
      const p = run(m);
      inflight.add(p);
      p.finally(() => { inflight.delete(p); handled++; });
    }
  })();
  return { sub, loop };
});
await nc.flush(); // the server has the subscriptions

// §9.1 Worker heartbeats: announce this worker at once, every second, in
// answer to a hello, and say bye when it stops. Gateways accept WebSocket
// handshakes only while they know of a running worker (§5.4). Sb-Features
// lists event-batches (it subscribes to <p>.evb.message); a worker that
// answered <p>.ev.wsconnect would add ws-connect, so that gateways ask it.
const workerId = `node${process.pid.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
const started = new Date().toISOString();
function announce(op) {
  const h = hdrs({ "Sb-Worker": workerId, "Sb-Features": "event-batches" });
  if (op) h.set("Sb-Op", op);
  const body = { id: workerId, host: os.hostname(), pid: process.pid, started, handled,
    in_flight: inflight.size, memory_bytes: process.memoryUsage().rss };
  nc.publish(`${prefix}.whb`, enc.encode(JSON.stringify(body)), { headers: h });
}
const hello = nc.subscribe(`${prefix}.whb`, {
  callback: (err, m) => { if (!err && m.headers?.get("Sb-Op") === "hello") announce(); },
});
announce();
const beat = setInterval(announce, 1000);
log(`ready on ${prefix}.ev.{connect,message,close} and ${prefix}.evb.message (queue "workers"), ${servers}`);

// SIGTERM drains (§5.6, §10 checklist 6): leave the queue group, answer every
// event already held (handlers may still send commands), then close.
let stopping = false;
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, async () => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: draining`);
    try {
      await Promise.all(subs.map(({ sub, loop }) => sub.drain().then(() => loop)));
      await Promise.allSettled([...inflight]);
      clearInterval(beat);
      hello.unsubscribe();
      announce("bye");
      await nc.drain();
    } catch (err) {
      log("drain:", err?.message || err);
      process.exit(1);
    }
  });
}

const err = await nc.closed();
if (err) {
  log("connection closed:", err.message);
  process.exit(1);
}
log("stopped");
process.exit(0);
