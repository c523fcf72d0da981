// Drives `voicedock serve` with an official TypeScript SDK client and calls
// every tool in tool-calls.json with its good and its bad input. Each call
// must come back as the tool's result or as its coded error (isError with
// "code: message"); a protocol error (the SDK refusing a result, e.g.
// structuredContent that does not match the tool's output schema) fails.
//
//   node sdk-client.mjs --sdk v1|v2 --stdio /path/to/voicedock
//   node sdk-client.mjs --sdk v1|v2 --url http://127.0.0.1:PORT/mcp
//
// v1 is @modelcontextprotocol/sdk (protocol 2025-11-25, sessions), v2 is
// @modelcontextprotocol/client pinned to 2026-07-28 (sessionless). The
// server's environment (VOICEDOCK_*) is this process's. CLOSED_PORT is a
// loopback TCP port nothing listens on, for the trunk. Prints one JSON line
// per call and exits 1 when any call went wrong.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    sdk: { type: 'string', default: 'v1' },
    stdio: { type: 'string' },
    url: { type: 'string' },
  },
});

const calls = JSON.parse(readFileSync(new URL('./tool-calls.json', import.meta.url), 'utf8')).calls;
const codes = new Set(process.env.ERROR_CODES ? process.env.ERROR_CODES.split(',') : []);

async function connect() {
  const env = Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined));
  if (args.sdk === 'v1') {
    const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const client = new Client({ name: 'voicedock-sdk-test', version: '1' });
    let transport;
    if (args.stdio) {
      const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
      transport = new StdioClientTransport({ command: args.stdio, args: ['serve', '--transport', 'stdio'], env, stderr: 'inherit' });
    } else {
      const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
      transport = new StreamableHTTPClientTransport(new URL(args.url));
    }
    await client.connect(transport);
    return client;
  }
  const sdk = await import('@modelcontextprotocol/client');
  const client = new sdk.Client({ name: 'voicedock-sdk-test', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  let transport;
  if (args.stdio) {
    const { StdioClientTransport } = await import('@modelcontextprotocol/client/stdio');
    transport = new StdioClientTransport({ command: args.stdio, args: ['serve', '--transport', 'stdio'], env, stderr: 'inherit' });
  } else {
    transport = new sdk.StreamableHTTPClientTransport(new URL(args.url));
  }
  await client.connect(transport);
  return client;
}

// fill replaces every "{{name}}" string in v with the saved value.
function fill(v, saved) {
  const text = JSON.stringify(v).replace(/"\{\{(\w+)\}\}"/g, (_, name) => {
    if (!(name in saved)) throw new Error(`no saved value ${name}`);
    return JSON.stringify(saved[name]);
  });
  return JSON.parse(text);
}

function pick(obj, path) {
  return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

function text(res) {
  return (res.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

const client = await connect();
const saved = { closed_port: Number(process.env.CLOSED_PORT ?? 9) };
const listed = await client.listTools();
const names = new Set(listed.tools.map((t) => t.name));
let failures = 0;
const report = (o) => {
  if (!o.ok) failures++;
  console.log(JSON.stringify(o));
};

for (const name of names) {
  if (!calls.some((c) => c.tool === name)) report({ tool: name, ok: false, why: 'tool-calls.json has no entry for it' });
}

for (const entry of calls) {
  for (const [i, kind] of ['good', 'bad'].entries()) {
    const want = entry.expect[i];
    const line = { tool: entry.tool, kind, want };
    let res;
    try {
      res = await client.callTool({ name: entry.tool, arguments: fill(entry[kind], saved) });
    } catch (err) {
      report({ ...line, ok: false, why: `protocol error: ${err?.code ?? ''} ${err?.message ?? err}` });
      continue;
    }
    const t = text(res);
    if (res.isError) {
      const m = /^([a-z_]+): \S/.exec(t);
      const code = m?.[1];
      const ok = code === want && !t.includes('\n') && res.structuredContent === undefined && (codes.size === 0 || codes.has(code));
      report({ ...line, ok, got: code ?? null, text: t, ...(ok ? {} : { why: 'error result is not one coded line without structuredContent, or not the expected code' }) });
      continue;
    }
    const ok = want === 'ok' && res.structuredContent !== undefined && typeof res.structuredContent === 'object';
    report({ ...line, ok, got: 'ok', ...(ok ? {} : { why: `unexpected success: ${t}` }) });
    if (ok && kind === 'good' && entry.save) {
      for (const [k, path] of Object.entries(entry.save)) saved[k] = pick(res.structuredContent, path);
    }
  }
}

await client.close();
console.log(JSON.stringify({ summary: true, sdk: args.sdk, transport: args.stdio ? 'stdio' : 'http', failures }));
process.exit(failures ? 1 : 0);
