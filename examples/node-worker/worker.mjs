// The Switchboard chat demo's worker in JavaScript. It speaks only what
// docs/protocol.md specifies: events from the "workers" queue group, replies
// with frames and session changes, group commands to the client's gateway,
// group messages on the group subject, and a cluster query for the room's
// users. Run: NATS_URL=nats://127.0.0.1:4222 node worker.mjs
import { connect, headers, createInbox, StringCodec } from "nats";

const prefix = process.env.SB_PREFIX || "sb";
const nc = await connect({ servers: process.env.NATS_URL || "nats://127.0.0.1:4222", name: "node-worker" });
const sc = StringCodec();
const enc = new TextEncoder();

// Name tokens (protocol.md, "Names and ids").
const plain = (s) => s.length > 0 && s.length <= 128 && /^[A-Za-z0-9_-]+$/.test(s);
const token = (name) => (plain(name) ? name : "~" + Buffer.from(name, "utf8").toString("base64url"));
const gatewayOf = (clientId) => clientId.split("-")[0];
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

function hdrs(fields) {
  const h = headers();
  for (const [k, v] of Object.entries(fields)) h.set(k, v);
  return h;
}

// A request to the client's gateway; throws on an error answer.
async function command(clientId, op, extra = {}, data = new Uint8Array()) {
  const m = await nc.request(`${prefix}.gw.${gatewayOf(clientId)}.c`, data, {
    timeout: 5000,
    headers: hdrs({ "Sb-Op": op, "Sb-Client": clientId, ...extra }),
  });
  if (m.headers?.get("Sb-Status") === "error") throw new Error(`${op}: ${m.headers.get("Sb-Reason")}`);
  return m;
}

const sendToGroup = (group, obj) => nc.publish(`${prefix}.grp.${token(group)}`, enc.encode(JSON.stringify(obj)));

// Scatter-gather over <p>.q: wait until every gateway named in any answer's
// Sb-Gateways has answered (protocol.md, "Queries").
async function roomSessions(room) {
  const inbox = createInbox();
  const sub = nc.subscribe(inbox);
  nc.publish(`${prefix}.q`, new Uint8Array(), {
    reply: inbox,
    headers: hdrs({ "Sb-Query": "list", "Sb-Group": token(room), "Sb-Fields": "session" }),
  });
  const expected = new Set(), answered = new Set(), clients = [];
  const timer = setTimeout(() => sub.unsubscribe(), 2000);
  for await (const m of sub) {
    if (m.headers?.code === 503) break; // no responders: no gateway
    const gw = m.headers.get("Sb-Gateway");
    answered.add(gw);
    expected.add(gw);
    for (const id of (m.headers.get("Sb-Gateways") || "").split(",")) if (id) expected.add(id);
    clients.push(...JSON.parse(sc.decode(m.data)).clients);
    if ([...expected].every((id) => answered.has(id))) break;
  }
  clearTimeout(timer);
  sub.unsubscribe();
  return clients;
}

// The handler of one event. `ctx` collects the reply.
async function onMessage(ctx, text) {
  let msg;
  try { msg = JSON.parse(text); } catch { return ctx.reply({ type: "error", message: "malformed message" }); }
  const s = ctx.session;
  switch (msg.type) {
    case "login": {
      const name = (msg.name || "").trim();
      if (!name || name.length > 32) return ctx.reply({ type: "error", message: "name required (1-32 characters)" });
      if (s.room) await leave(ctx, s.name, s.room);
      return enter(ctx, name, roomOrLobby(msg.room));
    }
    case "room":
      if (!s.name) return ctx.reply({ type: "error", message: "login first" });
      await leave(ctx, s.name, s.room);
      return enter(ctx, s.name, roomOrLobby(msg.room));
    case "say":
      if (!s.name) return ctx.reply({ type: "error", message: "login first" });
      return sendToGroup(s.room, { type: "say", client_id: ctx.clientId, name: s.name, room: s.room, text: String(msg.text || "").slice(0, 2000), time: now() });
    case "pong":
      return;
    default:
      return ctx.reply({ type: "error", message: `unknown type "${msg.type}"` });
  }
}

function roomOrLobby(room) {
  room = (room || "").trim();
  return room && room.length <= 32 ? room : "lobby";
}

async function enter(ctx, name, room) {
  ctx.set({ name, room });
  const users = [{ client_id: ctx.clientId, name }];
  for (const c of await roomSessions(room)) {
    if (c.id !== ctx.clientId && c.session?.name) users.push({ client_id: c.id, name: c.session.name });
  }
  users.sort((a, b) => a.name.localeCompare(b.name));
  sendToGroup(room, { type: "join", client_id: ctx.clientId, name, room, time: now() });
  await command(ctx.clientId, "join", { "Sb-Group": token(room) });
  ctx.reply({ type: "welcome", client_id: ctx.clientId, name, room, users });
}

async function leave(ctx, name, room) {
  if (!room) return;
  await command(ctx.clientId, "leave", { "Sb-Group": token(room) });
  sendToGroup(room, { type: "leave", client_id: ctx.clientId, name, room, time: now() });
}

// handle runs one event and always answers it: the client's next event
// waits for this reply.
async function handle(kind, m) {
  const ctx = {
    clientId: m.headers.get("Sb-Client"),
    session: JSON.parse(m.headers.get("Sb-Session") || "{}"),
    frames: [], changes: null,
    reply(obj) { this.frames.push(enc.encode(JSON.stringify(obj))); },
    set(kv) { Object.assign(this.session, kv); this.changes = { ...(this.changes || {}), ...kv }; },
  };
  try {
    if (kind === "message") await onMessage(ctx, sc.decode(m.data));
    if (kind === "close" && ctx.session.name && ctx.session.room) {
      sendToGroup(ctx.session.room, { type: "leave", client_id: ctx.clientId, name: ctx.session.name, room: ctx.session.room, time: now() });
    }
  } catch (err) {
    console.error(`worker: ${kind} of ${ctx.clientId}:`, err.message);
  }
  const h = hdrs({ "Sb-Status": "ok" });
  if (ctx.frames.length) h.set("Sb-Frames", ctx.frames.map((f) => f.length).join(","));
  if (ctx.changes) h.set("Sb-Session-Update", JSON.stringify(ctx.changes));
  const body = new Uint8Array(ctx.frames.reduce((n, f) => n + f.length, 0));
  let off = 0;
  for (const f of ctx.frames) { body.set(f, off); off += f.length; }
  m.respond(body, { headers: h });
}

for (const kind of ["connect", "message", "close"]) {
  const sub = nc.subscribe(`${prefix}.ev.${kind}`, { queue: "workers" });
  (async () => { for await (const m of sub) handle(kind, m); })();
}
await nc.flush();
console.error(`node worker ready on ${prefix}.ev.* (queue "workers")`);

// SIGTERM drains: no new events, the ones in hand are answered.
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, async () => { await nc.drain(); process.exit(0); });
}
await nc.closed();
