package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
)

// claimRoundQuery claims, by moving their next attempt to $1, at most $4
// deliveries due at $2 and heads of their calls: first those of the calls
// and URLs the arrays $5 and $6 name pairwise (whose previous delivery
// the round just ended), then those of the ids $3 (the candidates). It
// returns them with their bodies as they were before (the columns due_at
// and due_updated_at: RETURNING has only the new values) and whether
// each was a call's next (next_of_call, for the order: the rows of an
// UPDATE come back in none). FOR UPDATE SKIP LOCKED, as in claimQuery,
// gives a delivery that two nodes' rounds reach at once to one of them.
const claimRoundQuery = `WITH ended AS (
		SELECT * FROM unnest($5::text[], $6::text[]) AS e(call_id, url)),
	due AS (
		SELECT d.id AS due_id, d.next_attempt_at AS due_at, d.updated_at AS due_updated_at,
			(d.call_id, d.url) IN (SELECT call_id, url FROM ended) AS next_of_call
		FROM webhook_deliveries AS d
		WHERE d.status = ` + pendingStatus + ` AND d.next_attempt_at <= $2 AND ` + isHead + `
			AND (d.id = ANY($3) OR (d.call_id, d.url) IN (SELECT call_id, url FROM ended))
		ORDER BY next_of_call DESC, d.next_attempt_at, d.id LIMIT $4
		FOR UPDATE OF d SKIP LOCKED)
	UPDATE webhook_deliveries SET next_attempt_at = $1, updated_at = $2
	FROM due WHERE id = due.due_id
	RETURNING ` + deliveryColumns + withBody + `, due.due_at, due.due_updated_at, due.next_of_call`

// RecordAndClaim records a round's outcomes and claims its next
// deliveries in one transaction (see core.DeliveryStore): the claim runs
// after the outcomes, so a call whose event was just delivered has its
// next one claimed in the same write.
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
	// In the order of their ids, as every batch takes its row locks (see
	// UpdateDeliveries).
	outcomes := slices.SortedFunc(slices.Values(r.Outcomes), func(a, b core.WebhookDelivery) int {
		return strings.Compare(a.ID, b.ID)
	})
	candidates := make([]string, len(r.Candidates))
	for i, d := range r.Candidates {
		candidates[i] = d.ID
	}
	var calls, urls []string
	for _, o := range r.Outcomes {
		if o.CallID != "" && o.Status != core.DeliveryPending {
			calls, urls = append(calls, o.CallID), append(urls, o.URL)
		}
	}
	type claimed struct {
		d                core.WebhookDelivery
		dueAt, updatedAt time.Time
		nextOfCall       bool
	}
	var list []claimed
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if len(outcomes) > 0 {
			if err := updateDeliveriesTx(ctx, tx, outcomes, now); err != nil {
				return err
			}
		}
		if r.Limit < 1 {
			return nil
		}
		var err error
		list, err = sqlrows.QueryAll(ctx, tx, func(row sqlrows.Scanner) (claimed, error) {
			var c claimed
			d, err := scanDeliveryWithBody(withBefore{row, &c.dueAt, &c.updatedAt, &c.nextOfCall})
			d.NextAttemptAt, d.UpdatedAt = c.dueAt, c.updatedAt
			c.d = d
			return c, err
		}, claimRoundQuery, timestamp(r.Until), timestamp(r.Now), candidates, r.Limit, calls, urls)
		return err
	})
	if err != nil {
		return nil, wrap(err, "record %d webhook outcomes and claim", len(r.Outcomes))
	}
	slices.SortFunc(list, func(a, b claimed) int {
		if a.nextOfCall != b.nextOfCall {
			if a.nextOfCall {
				return -1
			}
			return 1
		}
		return cmp.Or(a.dueAt.Compare(b.dueAt), strings.Compare(a.d.ID, b.d.ID))
	})
	out := make([]core.WebhookDelivery, len(list))
	for i, c := range list {
		out[i] = c.d
	}
	return out, nil
}

// withBefore scans the row's last three columns, after those its Scan
// is given, into dueAt, updatedAt and nextOfCall.
type withBefore struct {
	sqlrows.Scanner
	dueAt, updatedAt *time.Time
	nextOfCall       *bool
}

func (w withBefore) Scan(dest ...any) error {
	return w.Scanner.Scan(append(dest, (*timestamp)(w.dueAt), (*timestamp)(w.updatedAt), w.nextOfCall)...)
}
