package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
)

// claimRoundSQL claims the deliveries its JSON array names: those the
// round's due query read in the same transaction, so pending every one.
const claimRoundSQL = `UPDATE webhook_deliveries SET next_attempt_at = ?, updated_at = ?
		 WHERE id IN (SELECT value FROM json_each(?))`

// RecordAndClaim records a round's outcomes and claims its next due
// deliveries in one transaction (see core.DeliveryStore). The due query
// runs in the write transaction, after the outcomes: a call whose event
// was just delivered has its next event claimed in the same write,
// where an outcome write, a due query and a claim write were three trips
// to the store, two of them queued behind the transfer path's writes.
// The write goes in the batcher's prompt lane (inPromptTx).
func (s *Store) RecordAndClaim(ctx context.Context, r core.DeliveryRound) ([]core.WebhookDelivery, error) {
	for _, d := range r.Outcomes {
		if err := core.CheckDeliveryOutcome(d); err != nil {
			return nil, err
		}
	}
	if len(r.Outcomes) == 0 && r.Limit < 1 {
		return nil, nil
	}
	now := s.now()
	var claimed []core.WebhookDelivery
	err := s.inPromptTx(ctx, func(tx *sql.Tx) error {
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
		claimed, err = s.claimDue(ctx, tx, r, claimed)
		return err
	})
	if err != nil {
		return nil, wrap(err, "record %d webhook outcomes and claim", len(r.Outcomes))
	}
	return claimed, nil
}

// claimDue claims, in tx, the deliveries due at r.Now, at most r.Limit,
// none of r.Skip, and appends them to into.
func (s *Store) claimDue(ctx context.Context, tx *sql.Tx, r core.DeliveryRound, into []core.WebhookDelivery) ([]core.WebhookDelivery, error) {
	st, err := s.writeStmts.in(ctx, tx, dueQuery)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, timestamp(r.Now), r.Limit+len(r.Skip))
	if err != nil {
		return nil, err
	}
	due, err := sqlrows.ScanAll(rows, scanDeliveryWithBody)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, min(len(due), r.Limit))
	for _, d := range due {
		if len(ids) == r.Limit {
			break
		}
		if slices.Contains(r.Skip, d.ID) {
			continue
		}
		d.NextAttemptAt, d.UpdatedAt = r.Until, r.Now
		into = append(into, d)
		ids = append(ids, d.ID)
	}
	if len(ids) == 0 {
		return into, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	cst, err := s.writeStmts.in(ctx, tx, claimRoundSQL)
	if err != nil {
		return nil, err
	}
	_, err = cst.ExecContext(ctx, timestamp(r.Until), timestamp(r.Now), string(list))
	return into, err
}
