package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
)

// Where a trunk's password lives; also the additional data its ciphertext
// is bound to.
const trunkPasswordColumn = "trunks.password"

const trunkColumns = "id, name, host, port, transport, username, password, inbound_auth, created_at, updated_at"

// CreateTrunk stores a new trunk.
func (s *Store) CreateTrunk(ctx context.Context, t core.Trunk) error {
	password, err := s.secrets.Seal(t.Password, trunkPasswordColumn, t.ID)
	if err != nil {
		return fmt.Errorf("create trunk %s: %w", t.ID, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO trunks (id, name, host, port, transport, username, password, inbound_auth, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Name, t.Host, t.Port, t.Transport, t.Username, password, t.InboundAuth,
			timestamp(t.CreatedAt), timestamp(t.UpdatedAt))
		if isUniqueViolation(err) {
			return core.FieldError(core.CodeConflict, "id", "trunk %q already exists", t.ID)
		}
		return err
	})
	return wrap(err, "create trunk %s", t.ID)
}

// GetTrunk returns the trunk, or CodeNotFound.
func (s *Store) GetTrunk(ctx context.Context, id string) (core.Trunk, error) {
	return getOne(s.readStmts[getTrunkSQL].QueryRowContext(ctx, id),
		func(r sqlrows.Scanner) (core.Trunk, error) { return s.scanTrunk(ctx, r) }, "trunk", id)
}

// ListTrunks returns a page of trunks in creation order, and how many there
// are in all.
func (s *Store) ListTrunks(ctx context.Context, p core.Page) ([]core.Trunk, int, error) {
	list, total, err := listPage(ctx, s, pageQuery{columns: trunkColumns, from: "trunks", order: "id"}, p, func(r sqlrows.Scanner) (core.Trunk, error) { return s.scanTrunk(ctx, r) }, nil)
	if err != nil {
		return nil, 0, wrap(err, "list trunks")
	}
	return list, total, nil
}

// UpdateTrunk replaces the stored trunk with t.ID, password included (an
// empty one removes it), or returns CodeNotFound. Its creation time stays
// as stored.
func (s *Store) UpdateTrunk(ctx context.Context, t core.Trunk) error {
	password, err := s.secrets.Seal(t.Password, trunkPasswordColumn, t.ID)
	if err != nil {
		return fmt.Errorf("update trunk %s: %w", t.ID, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE trunks SET name = ?, host = ?, port = ?, transport = ?, username = ?, password = ?, inbound_auth = ?, updated_at = ?
			 WHERE id = ?`,
			t.Name, t.Host, t.Port, t.Transport, t.Username, password, t.InboundAuth, timestamp(t.UpdatedAt), t.ID)
		if err != nil {
			return err
		}
		return mustAffect(res, "trunk", t.ID)
	})
	return wrap(err, "update trunk %s", t.ID)
}

// DeleteTrunk removes the trunk. A phone number still transferring through
// it is a CodeConflict, unless force detaches such numbers in the same
// change.
func (s *Store) DeleteTrunk(ctx context.Context, id string, force bool) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.releaseNumbers(ctx, tx, "trunk", "transfer_trunk_id", id, force); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM trunks WHERE id = ?", id)
		if err != nil {
			return err
		}
		return mustAffect(res, "trunk", id)
	})
	return wrap(err, "delete trunk %s", id)
}

// scanTrunk reads a row of trunkColumns. A password that does not decrypt
// is an internal error, logged with its cause.
func (s *Store) scanTrunk(ctx context.Context, row sqlrows.Scanner) (core.Trunk, error) {
	var (
		t        core.Trunk
		password []byte
	)
	if err := row.Scan(&t.ID, &t.Name, &t.Host, &t.Port, &t.Transport, &t.Username, &password, &t.InboundAuth,
		(*timestamp)(&t.CreatedAt), (*timestamp)(&t.UpdatedAt)); err != nil {
		return core.Trunk{}, err
	}
	var err error
	if t.Password, err = s.secrets.Open(password, trunkPasswordColumn, t.ID); err != nil {
		s.logger.ErrorContext(ctx, "store cannot decrypt a secret", "err", err)
		return core.Trunk{}, core.Internal("reading trunk "+t.ID, err)
	}
	return t, nil
}
