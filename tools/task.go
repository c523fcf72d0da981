package tools

import "context"

type taskKey struct{}

// WithTask marks ctx as running a tool call the client asked to run as a
// task: when ctx ends, the client cancelled the task (or it expired), and
// the tool stops what it started, where it can, instead of only no longer
// waiting for it as it does when a plain request is cancelled.
func WithTask(ctx context.Context) context.Context {
	return context.WithValue(ctx, taskKey{}, true)
}

// runsAsTask reports whether ctx carries a task (see WithTask).
func runsAsTask(ctx context.Context) bool {
	v, _ := ctx.Value(taskKey{}).(bool)
	return v
}
