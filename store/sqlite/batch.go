package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxBatch bounds how many writes share one transaction.
const maxBatch = 64

// batcher commits the writes of the call and webhook hot path in groups
// ("group commit"): under load every transfer step, call update and
// webhook outcome is a small write transaction, and beginning and
// committing each (the WAL append and its syscalls) cost more than the
// write itself. Writes that arrive while a transaction is being committed
// queue up and are committed together in the next one. The first writer
// to find nobody committing becomes the leader and commits the queue,
// batch after batch, until it is empty, so there is no goroutine to start
// or stop and an idle store commits a lone write at once.
//
// A write still returns only after its own commit: nothing is announced
// before it is stored. When anything in a batch fails (a write's error,
// a cancelled context, the commit), the batch is rolled back whole and
// its writes are run again one transaction each, so that one write's
// failure never takes another's with it; the writes batched are
// idempotent or fail cleanly on their own when run again.
type batcher struct {
	mu      sync.Mutex
	queue   []*batchWrite
	leading bool
}

type batchWrite struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan error
}

// inBatchTx runs fn in a write transaction that it may share with other
// writes; it returns once that transaction committed (or fn failed). fn
// must touch nothing but tx: it may run twice (see batcher).
func (s *Store) inBatchTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	w := &batchWrite{ctx: ctx, fn: fn, done: make(chan error, 1)}
	b := &s.batch
	b.mu.Lock()
	b.queue = append(b.queue, w)
	if b.leading {
		b.mu.Unlock()
		return <-w.done
	}
	b.leading = true
	b.mu.Unlock()
	for {
		b.mu.Lock()
		n := min(len(b.queue), maxBatch)
		if n == 0 {
			b.leading = false
			b.queue = nil
			b.mu.Unlock()
			break
		}
		batch := b.queue[:n:n]
		b.queue = b.queue[n:]
		b.mu.Unlock()
		s.commitBatch(batch)
	}
	return <-w.done
}

// commitBatch runs batch in one transaction, or each write in its own
// when that fails.
func (s *Store) commitBatch(batch []*batchWrite) {
	if len(batch) == 1 {
		w := batch[0]
		w.done <- s.inTx(w.ctx, w.fn)
		return
	}
	tx, err := s.write.BeginTx(context.Background(), nil)
	if err != nil {
		s.commitEach(batch)
		return
	}
	for _, w := range batch {
		if w.ctx.Err() != nil {
			_ = tx.Rollback()
			s.commitEach(batch)
			return
		}
		if err := w.fn(tx); err != nil {
			_ = tx.Rollback()
			s.commitEach(batch)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		_ = tx.Rollback()
		s.commitEach(batch)
		return
	}
	for _, w := range batch {
		w.done <- nil
	}
}

func (s *Store) commitEach(batch []*batchWrite) {
	for _, w := range batch {
		w.done <- s.inTx(w.ctx, w.fn)
	}
}
