package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/voicedock/voicedock/core"
)

const (
	// nextOfCallSQL selects the oldest pending delivery of a call to a
	// URL after a given one: the call's next event once that one is
	// delivered. The partial index of pending deliveries on (call_id,
	// url, id) serves it.
	nextOfCallSQL = "SELECT " + deliveryColumns + withBody + " FROM webhook_deliveries AS d" +
		" WHERE d.call_id = ? AND d.url = ? AND d.id > ? AND d.status = " + pendingStatus + " ORDER BY d.id LIMIT 1"

	// claimRoundSQL claims, of the deliveries its JSON array names, those
	// still pending, and returns their ids.
	claimRoundSQL = `UPDATE webhook_deliveries SET next_attempt_at = ?, updated_at = ?
		 WHERE id IN (SELECT value FROM json_each(?)) AND status = ` + pendingStatus + `
		 RETURNING id`
)

// RecordAndClaim records a round's outcomes and claims its next
// deliveries in one transaction (see core.DeliveryStore): where an
// outcome write and a claim write each queued behind the transfer path's
// writes, a round now queues once. The transaction does only point
// lookups and updates by id; the due query that finds the candidates
// runs before it, on the read pool, where it holds up no writer.
//
// The write queues with the others, in order. A lane ahead of the
// regular queue was tried: at 250 transfers/s on two shared cores, with
// the writer saturated, the transfer path's writes then waited behind a
// round in every batch, their queue grew, and the transfers' p50 went
// from 0.3 s to 5.6-13.5 s (the bench's load phase): a dispatcher that keeps pace
// by taking the writer from the calls is the wrong trade.
func (s *Store) RecordAndClaim(ctx context.Context, r core.DeliveryRound) ([]core.WebhookDelivery, error) {
	for _, d := range r.Outcomes {
		if err := core.CheckDeliveryOutcome(d); err != nil {
			return nil, err
		}
	}
	if len(r.Outcomes) == 0 && (r.Limit < 1 || len(r.Candidates) == 0) {
		return nil, nil
	}
	now := s.now()
	var claimed []core.WebhookDelivery
	err := s.inBatchTx(ctx, func(tx *sql.Tx) error {
		claimed = claimed[:0] // a batch that failed runs its writes again
		if len(r.Outcomes) > 0 {
			st, err := s.writeStmts.in(ctx, tx, updateDeliverySQL)
			if err != nil {
				return err
			}
			for _, d := range r.Outcomes {
				if _, err := s.execUpdateDelivery(ctx, st, d, now); err != nil {
					return fmt.Errorf("webhook delivery %s: %w", d.ID, err)
				}
			}
		}
		if r.Limit < 1 {
			return nil
		}
		var err error
		claimed, err = s.claimRound(ctx, tx, r, claimed)
		return err
	})
	if err != nil {
		return nil, wrap(err, "record %d webhook outcomes and claim", len(r.Outcomes))
	}
	return claimed, nil
}

// claimRound claims, in tx, the next deliveries of the calls whose
// outcomes ended a delivery, then r's candidates, at most r.Limit, and
// appends those it claimed to into.
func (s *Store) claimRound(ctx context.Context, tx *sql.Tx, r core.DeliveryRound, into []core.WebhookDelivery) ([]core.WebhookDelivery, error) {
	picked := make([]core.WebhookDelivery, 0, r.Limit)
	seen := make(map[string]bool, r.Limit)
	var next *sql.Stmt
	for _, o := range r.Outcomes {
		if len(picked) == r.Limit {
			break
		}
		if o.CallID == "" || o.Status == core.DeliveryPending {
			continue
		}
		if next == nil {
			var err error
			if next, err = s.writeStmts.in(ctx, tx, nextOfCallSQL); err != nil {
				return nil, err
			}
		}
		d, err := scanDeliveryWithBody(next.QueryRowContext(ctx, o.CallID, o.URL, o.ID))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if d.NextAttemptAt.After(r.Now) || seen[d.ID] {
			continue
		}
		picked, seen[d.ID] = append(picked, d), true
	}
	for _, d := range r.Candidates {
		if len(picked) == r.Limit {
			break
		}
		if !seen[d.ID] {
			picked, seen[d.ID] = append(picked, d), true
		}
	}
	if len(picked) == 0 {
		return into, nil
	}
	ids := make([]string, len(picked))
	for i, d := range picked {
		ids[i] = d.ID
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	st, err := s.writeStmts.in(ctx, tx, claimRoundSQL)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, timestamp(r.Until), timestamp(r.Now), string(list))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := make(map[string]bool, len(picked))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		got[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	claimed := picked[:0]
	for _, d := range picked {
		if got[d.ID] {
			claimed = append(claimed, d)
		}
	}
	if len(into) == 0 {
		return claimed, nil // the round's own slice: no copy of each delivery
	}
	return append(into, claimed...), nil
}
