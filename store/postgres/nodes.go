package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
)

var _ core.NodeStore = (*Store)(nil)

// The leases are read on the database's clock (now()): the nodes' own
// clocks need not agree.

// RenewNode records n's lease until ttl from now, with its URL.
func (s *Store) RenewNode(ctx context.Context, n core.Node, ttl time.Duration) (time.Time, error) {
	var until time.Time
	err := s.db.QueryRowContext(ctx,
		`INSERT INTO nodes (id, url, lease_until, updated_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond', now())
		 ON CONFLICT (id) DO UPDATE SET url = excluded.url, lease_until = excluded.lease_until, updated_at = excluded.updated_at
		 RETURNING lease_until`,
		n.ID, n.URL, ttl.Milliseconds()).Scan(&until)
	if err != nil {
		return time.Time{}, wrap(err, "renew the lease of node %s", n.ID)
	}
	return until.UTC(), nil
}

// GetNode returns the node's record and lease.
func (s *Store) GetNode(ctx context.Context, id string) (core.NodeLease, error) {
	n := core.NodeLease{Node: core.Node{ID: id}}
	err := s.db.QueryRowContext(ctx, `SELECT url, lease_until, lease_until <= now() FROM nodes WHERE id = $1`, id).
		Scan(&n.URL, &n.LeaseUntil, &n.Expired)
	if errors.Is(err, sql.ErrNoRows) {
		return n, core.NotFound("node", id)
	}
	if err != nil {
		return n, wrap(err, "get node %s", id)
	}
	n.LeaseUntil = n.LeaseUntil.UTC()
	return n, nil
}

// CallOwner returns the node holding the call and its lease.
func (s *Store) CallOwner(ctx context.Context, callID string) (core.CallOwner, error) {
	o := core.CallOwner{CallID: callID}
	var node, url sql.NullString
	var until sql.NullTime
	var status string
	var expired bool
	err := s.db.QueryRowContext(ctx,
		`SELECT c.status, c.node_id, n.url, n.lease_until, c.node_id IS NOT NULL AND (n.lease_until IS NULL OR n.lease_until <= now())
		 FROM calls c LEFT JOIN nodes n ON n.id = c.node_id WHERE c.id = $1`,
		callID).Scan(&status, &node, &url, &until, &expired)
	if errors.Is(err, sql.ErrNoRows) {
		return o, core.NotFound("call", callID)
	}
	if err != nil {
		return o, wrap(err, "find the node of call %s", callID)
	}
	o.Node, o.URL, o.Expired = node.String, url.String, expired
	o.Live = status == core.CallRinging || status == core.CallDialing || status == core.CallInProgress
	if until.Valid {
		o.LeaseUntil = until.Time.UTC()
	}
	return o, nil
}

// NodeCalls returns the ids of live calls node holds ("": no node).
func (s *Store) NodeCalls(ctx context.Context, node string, limit int) ([]string, error) {
	q := "SELECT id FROM calls WHERE node_id = $1 AND status = ANY($2) ORDER BY id LIMIT $3"
	args := []any{node, liveCallStatuses(), limit}
	if node == "" {
		q = "SELECT id FROM calls WHERE node_id IS NULL AND status = ANY($1) ORDER BY id LIMIT $2"
		args = args[1:]
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "list the live calls of node %q", node)
	}
	ids, err := sqlrows.ScanAll(rows, func(r sqlrows.Scanner) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
	return ids, wrap(err, "list the live calls of node %q", node)
}

// lostCondition holds for a call row c whose node's lease has run out or
// was never recorded.
const lostCondition = `c.node_id IS NOT NULL AND NOT EXISTS (
	SELECT 1 FROM nodes n WHERE n.id = c.node_id AND n.lease_until > now())`

// LostCalls returns live calls whose node's lease has run out.
func (s *Store) LostCalls(ctx context.Context, limit int) ([]core.CallOwner, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT c.id, c.node_id, n.url, n.lease_until FROM calls c LEFT JOIN nodes n ON n.id = c.node_id
		 WHERE c.status = ANY($1) AND `+lostCondition+` ORDER BY c.id LIMIT $2`, liveCallStatuses(), limit)
	if err != nil {
		return nil, wrap(err, "find the calls of lost nodes")
	}
	lost, err := sqlrows.ScanAll(rows, func(r sqlrows.Scanner) (core.CallOwner, error) {
		o := core.CallOwner{Live: true, Expired: true}
		var url sql.NullString
		var until sql.NullTime
		if err := r.Scan(&o.CallID, &o.Node, &url, &until); err != nil {
			return o, err
		}
		o.URL = url.String
		if until.Valid {
			o.LeaseUntil = until.Time.UTC()
		}
		return o, nil
	})
	return lost, wrap(err, "find the calls of lost nodes")
}

// TakeCall makes node the owner of the live call id if from holds it and,
// from being another node, from's lease has run out. It is one UPDATE:
// of nodes racing for the call, the first locks the row, and the others'
// conditions are checked again on the row it wrote, which from no longer
// holds.
func (s *Store) TakeCall(ctx context.Context, callID, node, from string) (bool, error) {
	q := `UPDATE calls c SET node_id = $1 WHERE c.id = $2 AND c.status = ANY($3)`
	args := []any{node, callID, liveCallStatuses()}
	switch from {
	case "":
		q += ` AND c.node_id IS NULL`
	case node:
		q += ` AND c.node_id = $4`
		args = append(args, from)
	default:
		q += ` AND c.node_id = $4 AND ` + lostCondition
		args = append(args, from)
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return false, wrap(err, "take call %s for node %s", callID, node)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap(err, "take call %s for node %s", callID, node)
	}
	return n == 1, nil
}

// callNode is the node_id column's value for a call.
func callNode(c core.Call) sql.NullString {
	return sql.NullString{String: c.Node, Valid: c.Node != ""}
}
