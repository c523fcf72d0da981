import { EventSource } from 'eventsource';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker';
import type { Call, Digit, Line, Transfer } from './model';

// The key lives in this tab's sessionStorage only: it is gone when the tab
// closes, and other sites cannot read it.
const keyItem = 'voicedock.apiKey';

export function storedKey(): string {
  try {
    return sessionStorage.getItem(keyItem) ?? '';
  } catch {
    return '';
  }
}

export function storeKey(key: string): void {
  try {
    if (key) sessionStorage.setItem(keyItem, key);
    else sessionStorage.removeItem(keyItem);
  } catch {
    // Storage refused (a private mode): the key lasts as long as the page.
  }
}

function authHeaders(key: string): Record<string, string> {
  return key ? { Authorization: `Bearer ${key}` } : {};
}

export type StreamState = 'connecting' | 'live' | 'retrying' | 'unauthorized' | 'forbidden';

export interface StreamHandlers {
  state(s: StreamState, detail?: string): void;
  snapshot(calls: Call[]): void;
  call(c: Call): void;
  transfer(c: Call, t: Transfer): void;
  line(l: Line): void;
  digit(d: Digit): void;
}

// openStream follows /console/events. The eventsource package (not the
// browser's EventSource) is used because it can send the Authorization
// header. It reconnects by itself after a network error; an answer other
// than 200 (503 when too many consoles are open, 429, a proxy's 502) closes
// it for good, so this reconnects then, backing off up to 30 s. Each
// connection begins with a fresh snapshot. 401 and 403 stop it.
export function openStream(key: string, h: StreamHandlers): () => void {
  let es: EventSource | undefined;
  let timer: number | undefined;
  let stopped = false;
  let delay = 2000;
  const parse = <T,>(ev: MessageEvent, f: (v: T) => void) => {
    try {
      f(JSON.parse(ev.data) as T);
    } catch (err) {
      console.error('console event', ev.type, err);
    }
  };
  const connect = () => {
    h.state('connecting');
    const source = new EventSource(new URL('/console/events', location.origin).toString(), {
      fetch: (input, init) =>
        fetch(input, { ...init, headers: { ...(init?.headers ?? {}), ...authHeaders(key) } }),
    });
    es = source;
    source.addEventListener('snapshot', (ev) =>
      parse<{ calls: Call[] }>(ev, (v) => {
        delay = 2000;
        h.snapshot(v.calls ?? []);
        h.state('live');
      }),
    );
    source.addEventListener('call', (ev) => parse<{ call: Call }>(ev, (v) => h.call(v.call)));
    source.addEventListener('transfer', (ev) =>
      parse<{ call: Call; transfer: Transfer }>(ev, (v) => h.transfer(v.call, v.transfer)),
    );
    source.addEventListener('line', (ev) => parse<{ line: Line }>(ev, (v) => h.line(v.line)));
    source.addEventListener('digit', (ev) => parse<{ digit: Digit }>(ev, (v) => h.digit(v.digit)));
    source.addEventListener('error', (err) => {
      if (err.code === 401) {
        source.close();
        h.state('unauthorized');
        return;
      }
      if (err.code === 403) {
        source.close();
        h.state('forbidden', err.message);
        return;
      }
      h.state('retrying', err.message);
      if (source.readyState === EventSource.CLOSED && !stopped) {
        window.clearTimeout(timer);
        timer = window.setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30_000);
      }
    });
  };
  connect();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
    es?.close();
  };
}

export interface ToolResult<T> {
  ok: boolean;
  data?: T;
  error?: string;
}

// Mcp is the console's MCP client at /mcp, with the same key: it reads
// what the event stream does not carry (trunks, statistics, names).
export class Mcp {
  private client?: Client;
  private connecting?: Promise<Client>;
  private tools?: Set<string>;

  constructor(private key: string) {}

  private async connect(): Promise<Client> {
    if (this.client) return this.client;
    if (!this.connecting) {
      this.connecting = (async () => {
        const transport = new StreamableHTTPClientTransport(new URL('/mcp', location.origin), {
          requestInit: { headers: authHeaders(this.key) },
        });
        // The default validator (Ajv) compiles schemas with new Function,
        // which the page's Content-Security-Policy forbids; this one
        // interprets them.
        const client = new Client(
          { name: 'voicedock-console', version: '1.0.0' },
          { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() },
        );
        await client.connect(transport);
        const { tools } = await client.listTools();
        this.tools = new Set(tools.map((t) => t.name));
        this.client = client;
        return client;
      })().finally(() => {
        this.connecting = undefined;
      });
    }
    return this.connecting;
  }

  async has(tool: string): Promise<boolean> {
    await this.connect();
    return this.tools?.has(tool) ?? false;
  }

  // call runs a tool. A failure of the session itself (it expired, the
  // server restarted) is retried once on a new session.
  async call<T>(name: string, args: Record<string, unknown>): Promise<ToolResult<T>> {
    const first = await this.callOnce<T>(name, args);
    if (first.ok || !first.transport) return first;
    return this.callOnce<T>(name, args);
  }

  private async callOnce<T>(name: string, args: Record<string, unknown>): Promise<ToolResult<T> & { transport?: boolean }> {
    try {
      const client = await this.connect();
      const res = await client.callTool({ name, arguments: args });
      const structured = res.structuredContent as Record<string, unknown> | undefined;
      if (res.isError) {
        // The coded error is in _meta (an error has no structuredContent:
        // it would not match the tool's output schema), and in the text.
        const err = res._meta?.['voicedock/error'] as { message?: string } | undefined;
        const text = (res.content as { type: string; text?: string }[] | undefined)?.find((c) => c.type === 'text')?.text;
        return { ok: false, error: err?.message ?? text ?? 'the tool failed' };
      }
      return { ok: true, data: structured as T };
    } catch (err) {
      // A network failure, or a session the server no longer knows (it
      // expired, the server restarted): start a new one.
      const transport = err instanceof TypeError || (err instanceof StreamableHTTPError && err.code === 404);
      if (transport) {
        const old = this.client;
        this.client = undefined;
        this.tools = undefined;
        void old?.close().catch(() => undefined);
      }
      return { ok: false, transport, error: err instanceof Error ? err.message : String(err) };
    }
  }

  close(): void {
    void this.client?.close().catch(() => undefined);
    this.client = undefined;
  }
}
