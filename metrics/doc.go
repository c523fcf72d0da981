// Package metrics exposes the server's Prometheus metrics. It owns its
// registry (nothing goes to client_golang's global one), learns about
// calls and transfers by subscribing to the core's event bus, and is told
// of the rest (MCP tool calls, SIP messages, webhook attempts) through
// small callbacks the other packages take as options. Labels are bounded:
// statuses, outcomes, SIP methods and codes, tool names and trunk ids,
// never a call id or a phone number.
package metrics
