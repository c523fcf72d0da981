package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
)

var _ core.NodeStore = (*Store)(nil)

// The lease is read on this store's clock (s.now): every node sharing an
// SQLite file runs on the one machine that holds it.

// RenewNode records n's lease until ttl from now, with its URL.
func (s *Store) RenewNode(ctx context.Context, n core.Node, ttl time.Duration) (time.Time, error) {
	now := s.now().UTC().Truncate(time.Millisecond)
	until := now.Add(ttl)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO nodes (id, url, lease_until, updated_at) VALUES (?, ?, ?, ?)
			 ON CONFLICT (id) DO UPDATE SET url = excluded.url, lease_until = excluded.lease_until, updated_at = excluded.updated_at`,
			n.ID, n.URL, timestamp(until), timestamp(now))
		return err
	})
	if err != nil {
		return time.Time{}, wrap(err, "renew the lease of node %s", n.ID)
	}
	return until, nil
}

// GetNode returns the node's record and lease.
func (s *Store) GetNode(ctx context.Context, id string) (core.NodeLease, error) {
	n := core.NodeLease{Node: core.Node{ID: id}}
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT url, lease_until FROM nodes WHERE id = ?`, id).
			Scan(&n.URL, (*timestamp)(&n.LeaseUntil))
	})
	if errors.Is(err, sql.ErrNoRows) {
		return n, core.NotFound("node", id)
	}
	if err != nil {
		return n, wrap(err, "get node %s", id)
	}
	n.Expired = !n.LeaseUntil.After(s.now())
	return n, nil
}

// CallOwner returns the node holding the call and its lease.
func (s *Store) CallOwner(ctx context.Context, callID string) (core.CallOwner, error) {
	o := core.CallOwner{CallID: callID}
	var node, url sql.NullString
	var until *time.Time
	var status string
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx,
			`SELECT c.status, c.node_id, n.url, n.lease_until FROM calls c LEFT JOIN nodes n ON n.id = c.node_id WHERE c.id = ?`,
			callID).Scan(&status, &node, &url, nullTimestamp{&until})
	})
	if errors.Is(err, sql.ErrNoRows) {
		return o, core.NotFound("call", callID)
	}
	if err != nil {
		return o, wrap(err, "find the node of call %s", callID)
	}
	o.Node, o.URL = node.String, url.String
	o.Live = status == core.CallRinging || status == core.CallDialing || status == core.CallInProgress
	if until != nil {
		o.LeaseUntil = *until
	}
	o.Expired = o.Node != "" && (until == nil || !until.After(s.now()))
	return o, nil
}

// NodeCalls returns the ids of live calls node holds ("": no node).
func (s *Store) NodeCalls(ctx context.Context, node string, limit int) ([]string, error) {
	var ids []string
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		var err error
		q := "SELECT id FROM calls WHERE node_id = ? AND status IN " + liveCallStatuses + " ORDER BY id LIMIT ?"
		args := []any{node, limit}
		if node == "" {
			q = "SELECT id FROM calls WHERE node_id IS NULL AND status IN " + liveCallStatuses + " ORDER BY id LIMIT ?"
			args = args[1:]
		}
		ids, err = sqlrows.QueryAll(ctx, tx, func(r sqlrows.Scanner) (string, error) {
			var id string
			return id, r.Scan(&id)
		}, q, args...)
		return err
	})
	if err != nil {
		return nil, wrap(err, "list the live calls of node %q", node)
	}
	return ids, nil
}

// lostCondition holds for a call row c (with ?now bound) whose node's lease
// has run out or was never recorded.
const lostCondition = `c.node_id IS NOT NULL AND NOT EXISTS (
	SELECT 1 FROM nodes n WHERE n.id = c.node_id AND n.lease_until > ?)`

// LostCalls returns live calls whose node's lease has run out.
func (s *Store) LostCalls(ctx context.Context, limit int) ([]core.CallOwner, error) {
	now := timestamp(s.now())
	var lost []core.CallOwner
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		var err error
		lost, err = sqlrows.QueryAll(ctx, tx, func(r sqlrows.Scanner) (core.CallOwner, error) {
			o := core.CallOwner{Live: true, Expired: true}
			var url sql.NullString
			var until *time.Time
			if err := r.Scan(&o.CallID, &o.Node, &url, nullTimestamp{&until}); err != nil {
				return o, err
			}
			o.URL = url.String
			if until != nil {
				o.LeaseUntil = *until
			}
			return o, nil
		}, `SELECT c.id, c.node_id, n.url, n.lease_until FROM calls c LEFT JOIN nodes n ON n.id = c.node_id
		    WHERE c.status IN `+liveCallStatuses+` AND `+lostCondition+` ORDER BY c.id LIMIT ?`, now, limit)
		return err
	})
	if err != nil {
		return nil, wrap(err, "find the calls of lost nodes")
	}
	return lost, nil
}

// TakeCall makes node the owner of the live call id if from holds it and,
// from being another node, from's lease has run out: one conditional
// UPDATE, so that of nodes racing for the call one wins.
func (s *Store) TakeCall(ctx context.Context, callID, node, from string) (bool, error) {
	var took bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		q := `UPDATE calls AS c SET node_id = ? WHERE c.id = ? AND c.status IN ` + liveCallStatuses
		args := []any{node, callID}
		switch from {
		case "":
			q += ` AND c.node_id IS NULL`
		case node:
			q += ` AND c.node_id = ?`
			args = append(args, from)
		default:
			q += ` AND c.node_id = ? AND ` + lostCondition
			args = append(args, from, timestamp(s.now()))
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		took = n == 1
		return err
	})
	if err != nil {
		return false, wrap(err, "take call %s for node %s", callID, node)
	}
	return took, nil
}

// callNode is the node_id column's value for a call.
func callNode(c core.Call) sql.NullString {
	return sql.NullString{String: c.Node, Valid: c.Node != ""}
}
