package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
)

// claimDueQuery claims the due heads, first due first, at most $4, none
// of the ids $3, by moving their next attempt to $1, and returns them
// with their bodies and when they fell due (due_at, for the order: the
// rows of an UPDATE come back in none). FOR UPDATE SKIP LOCKED, as in
// claimQuery, gives a delivery that two nodes' rounds reach at once to
// one of them.
const claimDueQuery = `WITH due AS (
		SELECT d.id AS due_id, d.next_attempt_at AS due_at FROM webhook_deliveries AS d
		WHERE d.status = ` + pendingStatus + ` AND d.next_attempt_at <= $2 AND d.id <> ALL($3) AND ` + isHead + `
		ORDER BY d.next_attempt_at, d.id LIMIT $4
		FOR UPDATE SKIP LOCKED)
	UPDATE webhook_deliveries SET next_attempt_at = $1, updated_at = $2
	FROM due WHERE id = due.due_id
	RETURNING ` + deliveryColumns + withBody + `, due.due_at`

// RecordAndClaim records a round's outcomes and claims its next due
// deliveries in one transaction (see core.DeliveryStore): the claim runs
// after the outcomes, so a call whose event was just delivered has its
// next one claimed in the same write.
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
	// In the order of their ids, as every batch takes its row locks (see
	// UpdateDeliveries).
	outcomes := slices.SortedFunc(slices.Values(r.Outcomes), func(a, b core.WebhookDelivery) int {
		return strings.Compare(a.ID, b.ID)
	})
	// Never NULL: "id <> ALL(NULL)" would exclude every row.
	skip := append([]string{}, r.Skip...)
	type claimed struct {
		d     core.WebhookDelivery
		dueAt time.Time
	}
	var list []claimed
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if len(outcomes) > 0 {
			st, err := tx.PrepareContext(ctx, updateDeliveryQuery)
			if err != nil {
				return err
			}
			defer st.Close()
			for _, d := range outcomes {
				if _, err := st.ExecContext(ctx, updateDeliveryArgs(d, now)...); err != nil {
					return fmt.Errorf("webhook delivery %s: %w", d.ID, err)
				}
			}
		}
		if r.Limit < 1 {
			return nil
		}
		var err error
		list, err = sqlrows.QueryAll(ctx, tx, func(row sqlrows.Scanner) (claimed, error) {
			var c claimed
			d, err := scanDeliveryWithBody(withDueAt{row, &c.dueAt})
			c.d = d
			return c, err
		}, claimDueQuery, timestamp(r.Until), timestamp(r.Now), skip, r.Limit)
		return err
	})
	if err != nil {
		return nil, wrap(err, "record %d webhook outcomes and claim", len(r.Outcomes))
	}
	slices.SortFunc(list, func(a, b claimed) int {
		return cmp.Or(a.dueAt.Compare(b.dueAt), strings.Compare(a.d.ID, b.d.ID))
	})
	out := make([]core.WebhookDelivery, len(list))
	for i, c := range list {
		out[i] = c.d
	}
	return out, nil
}

// withDueAt scans a row's last column, after those its Scan is given,
// into at.
type withDueAt struct {
	sqlrows.Scanner
	at *time.Time
}

func (w withDueAt) Scan(dest ...any) error {
	return w.Scanner.Scan(append(dest, (*timestamp)(w.at))...)
}
