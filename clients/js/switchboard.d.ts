/** Options of `new Switchboard(url, options)`. */
export interface Options {
  /** First reconnect delay in ms (default 500). */
  minDelay?: number;
  /** Largest reconnect delay in ms (default 10000). */
  maxDelay?: number;
  /** Messages kept while disconnected; the oldest are dropped beyond it (default 100). */
  maxQueue?: number;
  /** The gateway's `ping_data`: answered with `pong` and not surfaced. */
  ping?: string;
  /** The reply sent for each `ping`. */
  pong?: string;
  /** The WebSocket class to use (default: globalThis.WebSocket). */
  WebSocket?: { new (url: string): WebSocket; readonly OPEN: number };
  /** A connection not open within this many ms is given up and retried (default 10000; 0: no limit). */
  connectTimeout?: number;
  /** The timer used for reconnect delays and the connect timeout (default: setTimeout). */
  setTimeout?: (fn: () => void, ms: number) => unknown;
  /** Cancels a timer made by `setTimeout` (default: clearTimeout). */
  clearTimeout?: (handle: unknown) => void;
}

export type State = "connecting" | "open" | "reconnecting" | "closed";

export type Data = string | ArrayBuffer | ArrayBufferView | Blob;

export interface Events {
  open: () => void;
  close: (event: CloseEvent) => void;
  /** Text arrives as a string, binary as an ArrayBuffer. */
  message: (data: string | ArrayBuffer) => void;
  /** Each text message that parses as JSON. */
  json: (value: any) => void;
  /** The connection was lost; the next attempt is in `delayMs`. */
  reconnecting: (delayMs: number) => void;
  /** A queued message pushed out of the full queue. */
  drop: (data: Data) => void;
  /** A socket error, or an exception thrown by a callback. */
  error: (error: unknown) => void;
}

export class Switchboard {
  constructor(url: string, options?: Options);
  readonly state: State;
  onopen: Events["open"] | null | undefined;
  onclose: Events["close"] | null | undefined;
  onmessage: Events["message"] | null | undefined;
  onjson: Events["json"] | null | undefined;
  onreconnecting: Events["reconnecting"] | null | undefined;
  ondrop: Events["drop"] | null | undefined;
  onerror: Events["error"] | null | undefined;
  /** Connects, and keeps reconnecting until close(). */
  connect(): this;
  on<K extends keyof Events>(event: K, fn: Events[K]): this;
  off<K extends keyof Events>(event: K, fn: Events[K]): this;
  /** Sends now, or queues while disconnected. */
  send(data: Data): void;
  /** send(JSON.stringify(value)). */
  sendJSON(value: unknown): void;
  /** Closes and stops reconnecting. */
  close(): void;
}
