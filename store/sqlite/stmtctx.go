package sqlite

import "context"

// statementContext is the context a batched write's statements run in:
// ctx without its cancellation. modernc's driver watches a cancellable
// context through every statement with a goroutine of its own (to
// interrupt SQLite when it is done), which on the hot path cost a
// goroutine's start and end per statement: a transferred call runs some
// thirty. The hot path's statements each write a row or a few and take
// microseconds, so there is nothing to interrupt; the write's context
// still bounds its wait for the writer (a write whose context is done is
// not run: see batcher) and carries its values.
func statementContext(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}
