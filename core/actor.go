package core

import "context"

// Actor is who asks for a change: an API key's name, or the transport
// for keyless local use. It is recorded on transfers (the audit trail).
type Actor struct {
	Name  string
	Scope string
	// ViaNode is set when another node carried the request here for the
	// call this node holds: that node's id. Such a request is never
	// carried on again.
	ViaNode string
}

type actorKey struct{}

// WithActor returns ctx carrying the actor.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor in ctx, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}
