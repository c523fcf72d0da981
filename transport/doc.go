// Package transport serves an already-built MCP server (mcp-go) to clients:
// over stdio, or over streamable HTTP at /mcp. It knows nothing of the tools
// the server carries; it only tells them who is calling, through
// [CallerFrom].
//
// Over HTTP every request passes the Origin allow-list first (a browser on a
// foreign page cannot reach the server). The routes that serve data, /mcp,
// /metrics and /console/events, then pass one guard: a bearer API key (or,
// without keys, only a loopback connection) and a per-client rate limit.
// /healthz and the console's static page need neither. Request bodies are
// capped, sessions are checked before mcp-go sees them, and mcp-go's own
// DNS-rebinding check stays on.
//
// The stdio-to-HTTP bridge that attaches a stdio client to a running
// server is package [github.com/voicedock/voicedock/transport/bridge].
package transport
