// Package bridge connects a stdio MCP client (one JSON-RPC message a line
// in, the same out) to a streamable HTTP MCP server: `voicedock serve`
// attaching to the process that owns the data directory (over its Unix
// socket, see [UnixClient]) or to a remote server (VOICEDOCK_CONNECT).
//
// The bridge is a JSON-RPC level proxy, not an MCP implementation: every
// message goes through unchanged, in both directions, whatever its method,
// so progress notifications, resource updates, log messages, cancellations,
// server requests (elicitation, ping) and their answers all pass. It only
// does what the HTTP transport asks of a client: it POSTs each line, keeps
// the Mcp-Session-Id the initialize answer brings, sends the
// Mcp-Protocol-Version negotiated (or, on 2026-07-28 and later, the one in
// the message's _meta, with the Mcp-Method and Mcp-Name headers), reads
// answers as JSON or as an event stream, holds the GET stream open for
// server-initiated messages of a session once the client asks for them,
// and ends the session with DELETE.
//
// The GET stream costs something: mcp-go hands each notification of a
// 2025-11-25 session to whichever of the session's streams reads first, so
// with the GET stream open a request's progress notifications are split
// between it and the request's own stream, and can arrive out of order. So
// the bridge opens it only once the client has asked for messages outside
// its requests (resources/subscribe, logging/setLevel), and it passes a
// progress notification only if it moves its request's progress forward
// (MCP requires progress to increase): a step overtaken by a later one is
// left out. Until then unsolicited messages (list changes) come with the
// next request's answer. 2026-07-28 has no such sharing: each request's
// notifications come on its own stream, subscriptions on theirs.
//
// mcp-go's client transport is not used: it decodes and re-encodes every
// message into its own types, and answers server requests itself.
//
// When the server goes (connection refused or cut, session unknown), each
// request still in flight is answered with a JSON-RPC error ([GoneCode])
// and [Run] returns.
package bridge
