export interface Options {
  minDelay?: number;
  maxDelay?: number;
  maxQueue?: number;
  ping?: string;
  pong?: string;
  WebSocket?: typeof WebSocket;
  setTimeout?: (fn: () => void, ms: number) => unknown;
}
export type State = "connecting" | "open" | "reconnecting" | "closed";
export class Switchboard {
  constructor(url: string, options?: Options);
  readonly state: State;
  connect(): this;
  on(event: "open", fn: () => void): this;
  on(event: "close", fn: (e: CloseEvent) => void): this;
  on(event: "message", fn: (data: string | ArrayBuffer) => void): this;
  on(event: "json", fn: (value: any) => void): this;
  on(event: "reconnecting", fn: (delayMs: number) => void): this;
  on(event: "drop", fn: (data: string | ArrayBuffer) => void): this;
  on(event: "error", fn: (e: unknown) => void): this;
  off(event: string, fn: (...args: any[]) => void): this;
  send(data: string | ArrayBuffer | Blob): void;
  sendJSON(value: unknown): void;
  close(): void;
}
