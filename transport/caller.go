package transport

import (
	"context"

	"github.com/voicedock/voicedock/core"
)

// Scopes an API key can carry.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// Transport names reported in [Caller].
const (
	TransportHTTP  = "http"
	TransportStdio = "stdio"
	// TransportSocket is HTTP on the data directory's Unix socket: the
	// user's own agents, attached to the owning process (ServeUnix).
	TransportSocket = "socket"
)

// Caller identifies who sent an MCP request. Handlers read it with
// [CallerFrom] to audit the request and to enforce the key's scope.
type Caller struct {
	// KeyName is the name of the API key that authenticated the request,
	// "anonymous" for HTTP without configured keys, "socket" for the Unix
	// socket, or "stdio".
	KeyName string
	// Scope is ScopeRead or ScopeWrite.
	Scope string
	// Transport is TransportHTTP, TransportSocket or TransportStdio.
	Transport string
	// Node is set on a request another node of the cluster carried here
	// (authenticated by the node key): that node's id.
	Node string
}

// CanWrite reports whether the caller's scope allows changes.
func (c Caller) CanWrite() bool { return c.Scope == ScopeWrite }

type callerKey struct{}

// WithCaller returns a copy of ctx carrying c. The transports set it on
// every request; it is exported for tests of code that reads it.
func WithCaller(ctx context.Context, c Caller) context.Context {
	// The core records who made a change; it knows the caller as an Actor.
	ctx = core.WithActor(ctx, core.Actor{Name: c.KeyName, Scope: c.Scope, ViaNode: c.Node})
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller stored in ctx by the transport serving the
// request, and whether there was one.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

var (
	stdioCaller     = Caller{KeyName: "stdio", Scope: ScopeWrite, Transport: TransportStdio}
	anonymousCaller = Caller{KeyName: "anonymous", Scope: ScopeWrite, Transport: TransportHTTP}
	socketCaller    = Caller{KeyName: "socket", Scope: ScopeWrite, Transport: TransportSocket}
)
