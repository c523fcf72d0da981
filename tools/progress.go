package tools

import "context"

// ProgressFunc reports a step of a long-running tool to the client that
// asked (an MCP progress notification). It must not block for long.
type ProgressFunc func(progress, total float64, message string)

type progressKey struct{}

// WithProgress returns ctx carrying the progress reporter of one request.
func WithProgress(ctx context.Context, fn ProgressFunc) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

func progressFrom(ctx context.Context) ProgressFunc {
	if fn, ok := ctx.Value(progressKey{}).(ProgressFunc); ok {
		return fn
	}
	return func(float64, float64, string) {}
}
