package sqlite

import (
	"testing"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/storetest"
)

func TestPhoneNumberDuplicateCaughtByConstraint(t *testing.T) {
	// checkNumber finds duplicates first; the UNIQUE constraint is the
	// backstop, and maps to the same error.
	n := storetest.NumberFixture(t, "+31201234567", nil, nil)
	s, _ := openTemp(t)
	ctx := t.Context()
	if err := s.CreatePhoneNumber(ctx, n); err != nil {
		t.Fatal(err)
	}
	_, err := s.write.ExecContext(ctx,
		"INSERT INTO phone_numbers (id, phone_number, created_at, updated_at) VALUES (?, ?, '', '')",
		storetest.NewID(t), n.PhoneNumber)
	storetest.MustCode(t, numberConstraint(err, n), core.CodeConflict, "phone_number")
	_, err = s.write.ExecContext(ctx,
		"INSERT INTO phone_numbers (id, phone_number, created_at, updated_at) VALUES (?, ?, '', '')",
		n.ID, "+31201234568")
	storetest.MustCode(t, numberConstraint(err, n), core.CodeConflict, "id")
	_, err = s.write.ExecContext(ctx,
		"INSERT INTO phone_numbers (id, phone_number, assistant_id, created_at, updated_at) VALUES (?, ?, ?, '', '')",
		storetest.NewID(t), "+31201234569", storetest.NewID(t))
	if !core.HasCode(numberConstraint(err, n), core.CodeNotFound) {
		t.Errorf("foreign key: %v", err)
	}
}
