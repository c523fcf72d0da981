// Package console is the live web console voicedock serves at /console:
// the page and its assets, built from web/ with Vite and embedded from
// dist/, and a server-sent event stream of the calls and transfers the
// core publishes. The transport routes and authenticates both (see
// transport.HTTPConfig); the page reads everything else (trunks,
// statistics) over MCP at /mcp with the same key.
//
// The stream, not MCP resource subscriptions, carries the live view: each
// event already holds the call or transfer as it now is, so a change costs
// the browser no read back (and no request against the key's rate limit),
// and a reconnect starts from a fresh snapshot instead of a resumed
// session.
package console
