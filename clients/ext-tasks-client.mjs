// Runs a tool (transfer_call, test_destination with dial) as a task of the
// 2026-07-28 tasks extension with the official client
// (@modelcontextprotocol/client pinned to 2026-07-28) and the extension's
// own client (@modelcontextprotocol/ext-tasks), over streamable HTTP:
//
//   node ext-tasks-client.mjs --url http://127.0.0.1:PORT/mcp --tool NAME \
//     --args '{"call_id": ...}' [--cancel-at "trying" [--cancel-when-file PATH]]
//
// Prints one JSON line per event: {"execution": ...} (TaskExecution when
// the call became a task), {"task": {...}} for each state of the task the
// client saw, {"outcome": ...} when it ended, and with --cancel-at, once a
// statusMessage contains that text (and the file PATH exists, which the
// test creates when the phone network got that far), {"cancelled": ...}
// and the server's tasks/get after the cancel ({"after_cancel": ...}).
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { createTaskSessionFromClient } from '@modelcontextprotocol/ext-tasks/client';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    tool: { type: 'string' },
    args: { type: 'string' },
    'cancel-at': { type: 'string' },
    'cancel-when-file': { type: 'string' },
  },
});

const version = '2026-07-28';
const clientInfo = { name: 'voicedock-ext-tasks-test', version: '1' };
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');

// rawDispatch sends one request as it is: the SDK client refuses the
// extension's methods (tasks/get is not a 2026-07-28 core method) and its
// task-shaped tools/call result, so ext-tasks asks the host to post them.
let nextID = 1;
async function rawDispatch(request, options = {}) {
  const message = { jsonrpc: '2.0', id: nextID++, ...request };
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': version,
    'mcp-method': message.method,
  };
  if (message.method === 'tools/call') headers['mcp-name'] = message.params.name;
  const resp = await fetch(args.url, { method: 'POST', headers, body: JSON.stringify(message), signal: options.signal });
  const text = await resp.text();
  let reply;
  if ((resp.headers.get('content-type') || '').includes('text/event-stream')) {
    for (const line of text.split('\n')) {
      if (!line.startsWith('data:')) continue;
      const m = JSON.parse(line.slice(5));
      if (m.id === message.id) reply = m;
    }
  } else {
    reply = JSON.parse(text);
  }
  if (!reply) throw new Error(`no answer to ${message.method}: HTTP ${resp.status} ${text}`);
  return reply.error ? { kind: 'error', error: reply.error } : { kind: 'result', result: reply.result };
}

const client = new Client(clientInfo, { versionNegotiation: { mode: { pin: version } } });
await client.connect(new StreamableHTTPClientTransport(new URL(args.url)));
const session = createTaskSessionFromClient(client, {
  endpointId: 'voicedock',
  rawDispatch,
  v2RequestFraming: { protocolVersion: version, clientInfo, clientCapabilities: {} },
});

let exitCode = 0;
try {
  const execution = await session.callTool(args.tool, JSON.parse(args.args), { task: { preference: 'require' } });
  print({ execution: execution.constructor.name });
  for await (const ev of execution.updates()) {
    if (ev.type === 'task') {
      print({ task: ev.task });
      const msg = ev.task.statusMessage || '';
      if (args['cancel-at'] && msg.includes(args['cancel-at'])) {
        const file = args['cancel-when-file'];
        while (file && !existsSync(file)) await new Promise((r) => setTimeout(r, 20));
        await execution.cancel();
        print({ cancelled: ev.task.taskId });
        const after = await rawDispatch({ method: 'tasks/get', params: { taskId: ev.task.taskId, _meta: { 'io.modelcontextprotocol/protocolVersion': version, 'io.modelcontextprotocol/clientCapabilities': {} } } });
        print({ after_cancel: after });
        break;
      }
    } else {
      print({ outcome: ev.outcome });
    }
  }
} catch (err) {
  print({ error: String(err && err.stack || err) });
  exitCode = 1;
} finally {
  await session.close();
  await client.close();
}
process.exit(exitCode);
