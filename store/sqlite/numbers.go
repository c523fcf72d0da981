package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
)

const numberColumns = "id, phone_number, name, assistant_id, transfer_trunk_id, created_at, updated_at"

// CreatePhoneNumber stores a new number. A number already registered is
// CodeConflict on phone_number; an assistant_id or transfer_trunk_id that
// does not exist is CodeNotFound on that field.
func (s *Store) CreatePhoneNumber(ctx context.Context, n core.PhoneNumber) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkNumber(ctx, tx, n); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO phone_numbers (id, phone_number, name, assistant_id, transfer_trunk_id, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?)`,
			n.ID, n.PhoneNumber, n.Name, n.AssistantID, n.TransferTrunkID,
			timestamp(n.CreatedAt), timestamp(n.UpdatedAt))
		return numberConstraint(err, n)
	})
	return wrap(err, "create phone number %s", n.ID)
}

// GetPhoneNumber returns the number, or CodeNotFound.
func (s *Store) GetPhoneNumber(ctx context.Context, id string) (core.PhoneNumber, error) {
	return getOne(s.readStmts[getNumberSQL].QueryRowContext(ctx, id), scanNumber, "phone number", id)
}

// FindPhoneNumber looks a number up by its E.164 form; an unknown number is
// CodeNotFound on phone_number.
func (s *Store) FindPhoneNumber(ctx context.Context, e164 string) (core.PhoneNumber, error) {
	row := s.read.QueryRowContext(ctx, "SELECT "+numberColumns+" FROM phone_numbers WHERE phone_number = ?", e164)
	n, err := scanNumber(row)
	if errors.Is(err, sql.ErrNoRows) {
		return core.PhoneNumber{}, core.FieldError(core.CodeNotFound, "phone_number", "phone number %s is not registered", e164)
	}
	if err != nil {
		return core.PhoneNumber{}, wrap(err, "find phone number %s", e164)
	}
	return n, nil
}

// ListPhoneNumbers returns a page of numbers in creation order, and how
// many there are in all.
func (s *Store) ListPhoneNumbers(ctx context.Context, p core.Page) ([]core.PhoneNumber, int, error) {
	list, total, err := listPage(ctx, s, pageQuery{columns: numberColumns, from: "phone_numbers", order: "id"}, p, scanNumber, nil)
	if err != nil {
		return nil, 0, wrap(err, "list phone numbers")
	}
	return list, total, nil
}

// UpdatePhoneNumber replaces the stored number, with the same checks as
// CreatePhoneNumber. Its creation time stays as stored.
func (s *Store) UpdatePhoneNumber(ctx context.Context, n core.PhoneNumber) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		found, err := exists(ctx, tx, "phone_numbers", n.ID)
		if err != nil {
			return err
		}
		if !found {
			return core.NotFound("phone number", n.ID)
		}
		if err := checkNumber(ctx, tx, n); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE phone_numbers SET phone_number = ?, name = ?, assistant_id = ?, transfer_trunk_id = ?, updated_at = ?
			 WHERE id = ?`,
			n.PhoneNumber, n.Name, n.AssistantID, n.TransferTrunkID, timestamp(n.UpdatedAt), n.ID)
		if err := numberConstraint(err, n); err != nil {
			return err
		}
		return mustAffect(res, "phone number", n.ID)
	})
	return wrap(err, "update phone number %s", n.ID)
}

// DeletePhoneNumber removes the number, or returns CodeNotFound.
func (s *Store) DeletePhoneNumber(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM phone_numbers WHERE id = ?", id)
		if err != nil {
			return err
		}
		return mustAffect(res, "phone number", id)
	})
	return wrap(err, "delete phone number %s", id)
}

// checkNumber returns the client-facing error for a number that another
// row already has, or that refers to an assistant or trunk that does not
// exist. The writer's transaction holds the write lock, so what it finds
// stays true until the change commits.
func checkNumber(ctx context.Context, tx *sql.Tx, n core.PhoneNumber) error {
	var other string
	err := tx.QueryRowContext(ctx,
		"SELECT id FROM phone_numbers WHERE phone_number = ? AND id <> ?", n.PhoneNumber, n.ID).Scan(&other)
	switch {
	case err == nil:
		return duplicateNumber(n.PhoneNumber)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("look up phone number %s: %w", n.PhoneNumber, err)
	}
	refs := []struct {
		id           *string
		table, param string
		kind         string
	}{
		{n.AssistantID, "assistants", "assistant_id", "assistant"},
		{n.TransferTrunkID, "trunks", "transfer_trunk_id", "trunk"},
	}
	for _, r := range refs {
		if r.id == nil {
			continue
		}
		found, err := exists(ctx, tx, r.table, *r.id)
		if err != nil {
			return err
		}
		if !found {
			return core.FieldError(core.CodeNotFound, r.param, "%s %q not found", r.kind, *r.id)
		}
	}
	return nil
}

func duplicateNumber(e164 string) error {
	return core.FieldError(core.CodeConflict, "phone_number", "phone number %s is already registered", e164)
}

// numberConstraint maps a constraint that checkNumber should have caught
// first to the same client-facing error, in case it did not.
func numberConstraint(err error, n core.PhoneNumber) error {
	switch sqliteCode(err) {
	case 0:
		return err
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return core.FieldError(core.CodeConflict, "id", "phone number %q already exists", n.ID)
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return duplicateNumber(n.PhoneNumber)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return core.Errorf(core.CodeNotFound, "the assistant or trunk of phone number %s does not exist", n.PhoneNumber)
	}
	return err
}

// maxNamedNumbers is how many numbers a conflict message names.
const maxNamedNumbers = 3

// releaseNumbers frees the assistant or trunk id (of the given kind) from
// the phone numbers whose column refers to it, so that it can be deleted:
// with force it sets the column to null on those numbers; without, it
// returns CodeConflict naming them.
func (s *Store) releaseNumbers(ctx context.Context, tx *sql.Tx, kind, column, id string, force bool) error {
	if force {
		res, err := tx.ExecContext(ctx,
			"UPDATE phone_numbers SET "+column+" = NULL, updated_at = ? WHERE "+column+" = ?",
			timestamp(s.now()), id)
		if err != nil {
			return fmt.Errorf("detach phone numbers: %w", err)
		}
		if n, err := res.RowsAffected(); err == nil && n > 0 {
			s.logger.InfoContext(ctx, "store detached phone numbers", "kind", kind, "id", id, "numbers", n)
		}
		return nil
	}
	var count int
	if err := tx.QueryRowContext(ctx,
		"SELECT count(*) FROM phone_numbers WHERE "+column+" = ?", id).Scan(&count); err != nil {
		return fmt.Errorf("count phone numbers: %w", err)
	}
	if count == 0 {
		return nil
	}
	rows, err := tx.QueryContext(ctx,
		"SELECT phone_number FROM phone_numbers WHERE "+column+" = ? ORDER BY phone_number LIMIT ?",
		id, maxNamedNumbers)
	if err != nil {
		return fmt.Errorf("list phone numbers: %w", err)
	}
	defer rows.Close()
	var numbers []string
	for rows.Next() {
		var e164 string
		if err := rows.Scan(&e164); err != nil {
			return fmt.Errorf("list phone numbers: %w", err)
		}
		numbers = append(numbers, e164)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list phone numbers: %w", err)
	}
	return core.FieldError(core.CodeConflict, "id", "%s", usedByMessage(kind, numbers, count))
}

// usedByMessage says which numbers use an assistant or trunk, naming at
// most a few of count.
func usedByMessage(kind string, named []string, count int) string {
	if count == 1 {
		return fmt.Sprintf("%s is used by phone number %s; detach it first or delete with force", kind, named[0])
	}
	var list string
	if more := count - len(named); more > 0 {
		list = fmt.Sprintf("%s and %d more", strings.Join(named, ", "), more)
	} else {
		list = strings.Join(named[:len(named)-1], ", ") + " and " + named[len(named)-1]
	}
	return fmt.Sprintf("%s is used by phone numbers %s; detach them first or delete with force", kind, list)
}

// scanNumber reads a row of numberColumns.
func scanNumber(row sqlrows.Scanner) (core.PhoneNumber, error) {
	var (
		n                core.PhoneNumber
		assistant, trunk sql.NullString
	)
	if err := row.Scan(&n.ID, &n.PhoneNumber, &n.Name, &assistant, &trunk,
		(*timestamp)(&n.CreatedAt), (*timestamp)(&n.UpdatedAt)); err != nil {
		return core.PhoneNumber{}, err
	}
	if assistant.Valid {
		n.AssistantID = &assistant.String
	}
	if trunk.Valid {
		n.TransferTrunkID = &trunk.String
	}
	return n, nil
}
