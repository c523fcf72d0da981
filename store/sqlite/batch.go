package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
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
// batch after batch, so there is no goroutine to start or stop and an
// idle store commits a lone write at once. Once the leader's own write is
// committed it goes on for at most leadTenure, then hands the lead to the
// oldest write still queued and returns: a writer waits for the batch
// that holds its own write and at most leadTenure more. (A leader that
// committed until the queue was empty kept its caller for as long as
// writes kept coming: at 750 transfers a second a NOTIFY's step, or a
// REFER behind the call's lock, waited 10-12 s for the load to end, while
// the other writes of that time took a second.)
//
// A write still returns only after its own commit: nothing is announced
// before it is stored. A write whose context is done when its turn comes
// fails alone and the batch goes on without it. When anything else in a
// batch fails (a write's error, the commit), the batch is rolled back
// whole and its writes are run again one transaction each, so that one
// write's failure never takes another's with it; the writes batched are
// idempotent or fail cleanly on their own when run again.
//
// Urgent writes (a transfer's first, which its REFER waits for) do not
// queue behind the others: the leader takes them before any other write,
// and when one arrives while a batch is being written, the batch is cut
// short there: the urgent writes join its transaction, it commits, and the
// writes not yet run go first in the next batch. An urgent write so waits
// for at most one write and a commit, not for a batch of up to maxBatch.
type batcher struct {
	// pause is held by the leader while it commits a batch, and by the
	// checkpointer to hold the writes between two batches (see
	// checkpoint.go).
	pause   sync.Mutex
	mu      sync.Mutex
	queue   []*batchWrite
	urgent  []*batchWrite
	leading bool
	// tenure is leadTenure; a test sets 0 to have the lead handed on as
	// soon as the leader's write is stored.
	tenure time.Duration
}

type batchWrite struct {
	ctx  context.Context
	fn   func(tx *sql.Tx) error
	done chan error
	// lead is sent to the oldest write queued when the leader leaves with
	// writes still queued: its writer leads from there.
	lead chan struct{}
}

// inBatchTx runs fn in a write transaction that it may share with other
// writes; it returns once that transaction committed (or fn failed). fn
// must touch nothing but tx: it may run twice (see batcher).
func (s *Store) inBatchTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.batchWrite(ctx, fn, false)
}

// inUrgentTx is inBatchTx for a write something waits on before it can
// go on (see batcher).
func (s *Store) inUrgentTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.batchWrite(ctx, fn, true)
}

func (s *Store) batchWrite(ctx context.Context, fn func(tx *sql.Tx) error, urgent bool) error {
	w := &batchWrite{ctx: ctx, fn: fn, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	b := &s.batch
	b.mu.Lock()
	if urgent {
		b.urgent = append(b.urgent, w)
	} else {
		b.queue = append(b.queue, w)
	}
	if b.leading {
		b.mu.Unlock()
		select {
		case err := <-w.done:
			return err
		case <-w.lead:
			// Handed the lead: w is still queued, first of its kind.
		}
	} else {
		b.leading = true
		b.mu.Unlock()
	}
	var own error
	var storedAt time.Time
	stored := false
	for {
		b.mu.Lock()
		if stored {
			queued := len(b.urgent) > 0 || len(b.queue) > 0
			if !queued || time.Since(storedAt) >= b.tenure {
				switch {
				case !queued:
					b.leading = false
					b.queue, b.urgent = nil, nil
				case len(b.urgent) > 0: // first, as the leader takes them
					b.urgent[0].lead <- struct{}{}
				default:
					b.queue[0].lead <- struct{}{}
				}
				b.mu.Unlock()
				return own
			}
		}
		var batch []*batchWrite
		switch {
		case len(b.urgent) > 0:
			n := min(len(b.urgent), maxBatch)
			batch, b.urgent = b.urgent[:n:n], b.urgent[n:]
		case len(b.queue) > 0:
			n := min(len(b.queue), maxBatch)
			batch, b.queue = b.queue[:n:n], b.queue[n:]
		}
		b.mu.Unlock()
		if len(batch) == 0 {
			// Not reached: w stays queued until it is stored, and a
			// leader leads on only with writes queued. Were it
			// otherwise, wait for w (once) rather than commit nothing in
			// a loop; the loop's head then ends the lead.
			if !stored {
				own, stored, storedAt = <-w.done, true, time.Now()
			}
			continue
		}
		b.pause.Lock()
		rest := s.commitBatch(batch)
		b.pause.Unlock()
		if len(rest) > 0 {
			b.mu.Lock()
			b.queue = append(rest, b.queue...)
			b.mu.Unlock()
		}
		if !stored {
			select {
			case own = <-w.done:
				stored, storedAt = true, time.Now()
			default: // w is in rest, or still queued behind the batch
			}
		}
	}
}

// leadTenure is how long a leader whose own write is stored goes on
// committing the others' before it hands the lead on. Handing it on at
// once woke a writer per batch, and on two saturated cores the writer sat
// idle until the new leader was scheduled: at 750 transfers a second the
// transfers' median time grew by a third. A few batches' time keeps the
// wake-ups rare and bounds what a caller gives the others.
const leadTenure = 20 * time.Millisecond

// takeUrgent hands the leader the urgent writes queued, if any.
func (b *batcher) takeUrgent() []*batchWrite {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.urgent) == 0 {
		return nil
	}
	n := min(len(b.urgent), maxBatch)
	u := b.urgent[:n:n]
	b.urgent = b.urgent[n:]
	return u
}

// commitBatch runs batch in one transaction, or each write in its own
// when that fails. When urgent writes arrive meanwhile, it runs them in
// the transaction, commits, and returns the writes of batch it did not
// run, to go first in the next batch.
func (s *Store) commitBatch(batch []*batchWrite) (rest []*batchWrite) {
	if len(batch) == 1 {
		w := batch[0]
		w.done <- s.runAlone(w)
		return nil
	}
	tx, err := s.write.BeginTx(context.Background(), nil)
	if err != nil {
		s.commitEach(batch)
		return nil
	}
	ran := make([]*batchWrite, 0, len(batch))
	for i := range batch {
		if i > 0 {
			if u := s.batch.takeUrgent(); u != nil {
				rest = batch[i:]
				var failed []*batchWrite
				if ran, failed = s.runAll(tx, ran, u); failed != nil {
					_ = tx.Rollback()
					s.commitEach(append(ran, failed...))
					return rest
				}
				break
			}
		}
		var failed []*batchWrite
		if ran, failed = s.runAll(tx, ran, batch[i:i+1]); failed != nil {
			_ = tx.Rollback()
			s.commitEach(append(append(ran, failed...), batch[i+1:]...))
			return nil
		}
	}
	if err := tx.Commit(); err != nil {
		_ = tx.Rollback()
		s.commitEach(ran)
		return rest
	}
	for _, w := range ran {
		w.done <- nil
	}
	return rest
}

// runAll runs ws in tx, appending each write it ran to ran. A write whose
// context is done before it runs has touched nothing: it fails alone,
// at once, and the batch goes on. (Rolling back the batch for it, and
// running its writes again one transaction each, slowed the queue when it
// was longest: in an overload, writes whose deadline passed in the queue
// came many to a batch.) When a write fails in tx, failed is ws from that
// write on, and the batch must be rolled back.
func (s *Store) runAll(tx *sql.Tx, ran, ws []*batchWrite) (_, failed []*batchWrite) {
	for i, w := range ws {
		if err := w.ctx.Err(); err != nil {
			w.done <- fmt.Errorf("begin: %w", err)
			continue
		}
		if w.fn(tx) != nil {
			return ran, ws[i:]
		}
		ran = append(ran, w)
	}
	return ran, nil
}

func (s *Store) commitEach(batch []*batchWrite) {
	for _, w := range batch {
		w.done <- s.runAlone(w)
	}
}

// runAlone runs w in a transaction of its own. The transaction does not
// watch w's context once begun, as a batch's does not (see
// statementContext): database/sql and the driver would each start a
// goroutine for it.
func (s *Store) runAlone(w *batchWrite) error {
	if err := w.ctx.Err(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	return s.inTx(context.WithoutCancel(w.ctx), w.fn)
}
