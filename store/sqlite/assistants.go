package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
)

// Where an assistant's webhook secret lives; also the additional data its
// ciphertext is bound to.
const assistantSecretColumn = "assistants.webhook_secret"

const assistantColumns = "id, config, webhook_secret, created_at, updated_at"

// CreateAssistant stores a new assistant.
func (s *Store) CreateAssistant(ctx context.Context, a core.Assistant) error {
	config, secret, err := s.encodeAssistant(a)
	if err != nil {
		return fmt.Errorf("create assistant %s: %w", a.ID, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO assistants (id, name, config, webhook_secret, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?)`,
			a.ID, a.Name, config, secret, timestamp(a.CreatedAt), timestamp(a.UpdatedAt))
		if isUniqueViolation(err) {
			return core.FieldError(core.CodeConflict, "id", "assistant %q already exists", a.ID)
		}
		return err
	})
	return wrap(err, "create assistant %s", a.ID)
}

// GetAssistant returns the assistant, or CodeNotFound.
func (s *Store) GetAssistant(ctx context.Context, id string) (core.Assistant, error) {
	return getOne(s.readStmts[getAssistantSQL].QueryRowContext(ctx, id),
		func(r sqlrows.Scanner) (core.Assistant, error) { return s.scanAssistant(ctx, r) }, "assistant", id)
}

// ListAssistants returns a page of assistants in creation order, and how
// many there are in all.
func (s *Store) ListAssistants(ctx context.Context, p core.Page) ([]core.Assistant, int, error) {
	list, total, err := listPage(ctx, s, pageQuery{columns: assistantColumns, from: "assistants", order: "id"}, p, func(r sqlrows.Scanner) (core.Assistant, error) { return s.scanAssistant(ctx, r) }, nil)
	if err != nil {
		return nil, 0, wrap(err, "list assistants")
	}
	return list, total, nil
}

// UpdateAssistant replaces the stored assistant with a.ID, or returns
// CodeNotFound. Its creation time stays as stored.
func (s *Store) UpdateAssistant(ctx context.Context, a core.Assistant) error {
	config, secret, err := s.encodeAssistant(a)
	if err != nil {
		return fmt.Errorf("update assistant %s: %w", a.ID, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE assistants SET name = ?, config = ?, webhook_secret = ?, updated_at = ? WHERE id = ?`,
			a.Name, config, secret, timestamp(a.UpdatedAt), a.ID)
		if err != nil {
			return err
		}
		return mustAffect(res, "assistant", a.ID)
	})
	return wrap(err, "update assistant %s", a.ID)
}

// DeleteAssistant removes the assistant. A phone number still using it is
// a CodeConflict, unless force detaches such numbers in the same change.
func (s *Store) DeleteAssistant(ctx context.Context, id string, force bool) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.releaseNumbers(ctx, tx, "assistant", "assistant_id", id, force); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM assistants WHERE id = ?", id)
		if err != nil {
			return err
		}
		return mustAffect(res, "assistant", id)
	})
	return wrap(err, "delete assistant %s", id)
}

// columnFields are the assistant's JSON fields that live in columns of
// their own (or nowhere, webhook_secret_set), not in the config document.
func columnFields() []string {
	return []string{"id", "webhook_secret", "webhook_secret_set", "created_at", "updated_at"}
}

// encodeAssistant returns the assistant's config document, without the
// fields that have columns of their own, and its sealed webhook secret.
func (s *Store) encodeAssistant(a core.Assistant) (string, []byte, error) {
	secret, err := s.secrets.Seal(a.WebhookSecret, assistantSecretColumn, a.ID)
	if err != nil {
		return "", nil, err
	}
	doc := a
	doc.ID, doc.WebhookSecret, doc.WebhookSecretSet = "", "", false
	doc.CreatedAt, doc.UpdatedAt = time.Time{}, time.Time{}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", nil, fmt.Errorf("encode config: %w", err)
	}
	// Zeroed, they would still be written ("id":"", "created_at":"0001-...");
	// leave them out so the document holds only what it is the source of.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return "", nil, fmt.Errorf("encode config: %w", err)
	}
	for _, f := range columnFields() {
		delete(fields, f)
	}
	if b, err = json.Marshal(fields); err != nil {
		return "", nil, fmt.Errorf("encode config: %w", err)
	}
	return string(b), secret, nil
}

// scanAssistant reads a row of assistantColumns. A secret that does not
// decrypt is an internal error, logged with its cause.
func (s *Store) scanAssistant(ctx context.Context, row sqlrows.Scanner) (core.Assistant, error) {
	var (
		id, config       string
		secret           []byte
		created, updated time.Time
	)
	if err := row.Scan(&id, &config, &secret, (*timestamp)(&created), (*timestamp)(&updated)); err != nil {
		return core.Assistant{}, err
	}
	var a core.Assistant
	if err := json.Unmarshal([]byte(config), &a); err != nil {
		return core.Assistant{}, fmt.Errorf("decode config of assistant %s: %w", id, err)
	}
	a.ID, a.CreatedAt, a.UpdatedAt = id, created, updated
	var err error
	if a.WebhookSecret, err = s.secrets.Open(secret, assistantSecretColumn, id); err != nil {
		s.logger.ErrorContext(ctx, "store cannot decrypt a secret", "err", err)
		return core.Assistant{}, core.Internal("reading assistant "+id, err)
	}
	a.WebhookSecretSet = false
	return a, nil
}
