package sqlite

import (
	"context"
	"database/sql"
)

// writeLane is where a write queues in the batcher.
type writeLane int

const (
	// laneRegular: in arrival order, up to maxBatch a transaction.
	laneRegular writeLane = iota
	// laneUrgent: before everything, cutting a batch short (inUrgentTx).
	laneUrgent
	// lanePrompt: at the head of the next batch (inPromptTx).
	lanePrompt
)

// inPromptTx is inBatchTx for a write that must not wait behind the
// regular queue: the webhook dispatcher's round. When the transfer path
// keeps the writer saturated, its queue is as long as the writer is
// behind, and a dispatcher waiting there for every round sent fewer
// deliveries the busier the server was, until the outbox grew without
// bound. A prompt write joins the next batch the leader takes, ahead of
// the regular writes queued, so it waits for at most the batch being
// committed (and the urgent writes, which stay first). It does not cut
// batches short as an urgent write does: a transfer's REFER waits on
// those, a webhook does not.
func (s *Store) inPromptTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.batchWrite(ctx, fn, lanePrompt)
}

// enqueue adds w to its lane's queue; b.mu is held.
func (b *batcher) enqueue(w *batchWrite, lane writeLane) {
	switch lane {
	case laneUrgent:
		b.urgent = append(b.urgent, w)
	case lanePrompt:
		b.prompt = append(b.prompt, w)
	default:
		b.queue = append(b.queue, w)
	}
}

// takeRegular takes the next batch that is not urgent: the prompt writes
// first, then the regular queue, up to maxBatch in all; b.mu is held.
func (b *batcher) takeRegular() []*batchWrite {
	if len(b.prompt) == 0 {
		n := min(len(b.queue), maxBatch)
		batch := b.queue[:n:n]
		b.queue = b.queue[n:]
		return batch
	}
	n := min(len(b.prompt), maxBatch)
	batch := make([]*batchWrite, 0, min(len(b.prompt)+len(b.queue), maxBatch))
	batch = append(batch, b.prompt[:n]...)
	b.prompt = b.prompt[n:]
	m := min(len(b.queue), maxBatch-len(batch))
	batch = append(batch, b.queue[:m]...)
	b.queue = b.queue[m:]
	return batch
}
