package storetest

import (
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

func NumberFixture(t *testing.T, e164 string, assistantID, trunkID *string) core.PhoneNumber {
	t.Helper()
	ts := Now()
	return core.PhoneNumber{
		ID: NewID(t),
		PhoneNumberConfig: core.PhoneNumberConfig{
			PhoneNumber: e164, Name: "Main line", AssistantID: assistantID, TransferTrunkID: trunkID,
		},
		CreatedAt: ts,
		UpdatedAt: ts,
	}
}

// refs creates an assistant and a trunk for numbers to refer to.
func refs(t *testing.T, s Store) (core.Assistant, core.Trunk) {
	t.Helper()
	a, tr := AssistantFixture(t, "Front desk"), TrunkFixture(t, "PBX")
	if err := s.CreateAssistant(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTrunk(t.Context(), tr); err != nil {
		t.Fatal(err)
	}
	return a, tr
}

func testPhoneNumberCRUD(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	a, tr := refs(t, s)
	n := NumberFixture(t, "+31201234567", &a.ID, &tr.ID)
	if err := s.CreatePhoneNumber(ctx, n); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetPhoneNumber(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	MustEqual(t, got, n)
	got, err = s.FindPhoneNumber(ctx, "+31201234567")
	if err != nil {
		t.Fatal(err)
	}
	MustEqual(t, got, n)

	// Detach both, rename, renumber.
	n.AssistantID, n.TransferTrunkID = nil, nil
	n.Name, n.PhoneNumber = "Support", "+31207654321"
	n.UpdatedAt = n.UpdatedAt.Add(time.Second)
	if err := s.UpdatePhoneNumber(ctx, n); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetPhoneNumber(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	MustEqual(t, got, n)
	_, err = s.FindPhoneNumber(ctx, "+31201234567")
	MustCode(t, err, core.CodeNotFound, "phone_number")

	// Re-attach.
	n.AssistantID, n.TransferTrunkID = &a.ID, &tr.ID
	if err := s.UpdatePhoneNumber(ctx, n); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetPhoneNumber(ctx, n.ID)
	MustEqual(t, got, n)

	if err := s.DeletePhoneNumber(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetPhoneNumber(ctx, n.ID)
	MustCode(t, err, core.CodeNotFound, "id")
	MustCode(t, s.DeletePhoneNumber(ctx, n.ID), core.CodeNotFound, "id")
	// The assistant and trunk are free again.
	if err := s.DeleteAssistant(ctx, a.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTrunk(ctx, tr.ID, false); err != nil {
		t.Fatal(err)
	}
}

func testPhoneNumberNotFound(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	n := NumberFixture(t, "+31201234567", nil, nil)
	_, err := s.GetPhoneNumber(ctx, n.ID)
	MustCode(t, err, core.CodeNotFound, "id")
	_, err = s.FindPhoneNumber(ctx, n.PhoneNumber)
	MustCode(t, err, core.CodeNotFound, "phone_number")
	MustCode(t, s.UpdatePhoneNumber(ctx, n), core.CodeNotFound, "id")
	MustCode(t, s.DeletePhoneNumber(ctx, n.ID), core.CodeNotFound, "id")
	if _, total, err := s.ListPhoneNumbers(ctx, core.Page{}); err != nil || total != 0 {
		t.Errorf("a failed update created something: total %d, %v", total, err)
	}
}

func testPhoneNumberDuplicate(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	first := NumberFixture(t, "+31201234567", nil, nil)
	second := NumberFixture(t, "+31201234568", nil, nil)
	for _, n := range []core.PhoneNumber{first, second} {
		if err := s.CreatePhoneNumber(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	dup := NumberFixture(t, first.PhoneNumber, nil, nil)
	err := s.CreatePhoneNumber(ctx, dup)
	MustCode(t, err, core.CodeConflict, "phone_number")
	if got := core.AsError(err).Message; got != "phone number +31201234567 is already registered" {
		t.Errorf("message %q", got)
	}
	_, err = s.GetPhoneNumber(ctx, dup.ID)
	MustCode(t, err, core.CodeNotFound, "id")

	// Renumbering onto another's number changes nothing, the name included.
	changed := second
	changed.PhoneNumber, changed.Name = first.PhoneNumber, "renamed"
	MustCode(t, s.UpdatePhoneNumber(ctx, changed), core.CodeConflict, "phone_number")
	got, _ := s.GetPhoneNumber(ctx, second.ID)
	MustEqual(t, got, second)

	// Keeping one's own number is no conflict.
	same := first
	same.Name = "renamed"
	if err := s.UpdatePhoneNumber(ctx, same); err != nil {
		t.Fatal(err)
	}
}

func testPhoneNumberMissingReferences(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	a, tr := refs(t, s)
	missing := NewID(t)

	MustCode(t, s.CreatePhoneNumber(ctx, NumberFixture(t, "+31201234567", &missing, &tr.ID)),
		core.CodeNotFound, "assistant_id")
	MustCode(t, s.CreatePhoneNumber(ctx, NumberFixture(t, "+31201234567", &a.ID, &missing)),
		core.CodeNotFound, "transfer_trunk_id")
	if _, total, _ := s.ListPhoneNumbers(ctx, core.Page{}); total != 0 {
		t.Fatalf("a refused create stored %d numbers", total)
	}

	n := NumberFixture(t, "+31201234567", &a.ID, &tr.ID)
	if err := s.CreatePhoneNumber(ctx, n); err != nil {
		t.Fatal(err)
	}
	bad := n
	bad.Name, bad.AssistantID = "changed", &missing
	MustCode(t, s.UpdatePhoneNumber(ctx, bad), core.CodeNotFound, "assistant_id")
	bad = n
	bad.Name, bad.TransferTrunkID = "changed", &missing
	MustCode(t, s.UpdatePhoneNumber(ctx, bad), core.CodeNotFound, "transfer_trunk_id")
	got, _ := s.GetPhoneNumber(ctx, n.ID)
	MustEqual(t, got, n)
}

func testListPhoneNumbersPaging(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	var ids []string
	for _, e164 := range []string{"+31201234569", "+31201234568", "+31201234567"} {
		n := NumberFixture(t, e164, nil, nil)
		if err := s.CreatePhoneNumber(ctx, n); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, n.ID)
	}
	page, total, err := s.ListPhoneNumbers(ctx, core.Page{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if total != 3 || len(page) != 2 || page[0].ID != ids[0] || page[1].ID != ids[1] {
		t.Fatalf("total %d, page %v: want creation order", total, page)
	}
	page, _, err = s.ListPhoneNumbers(ctx, core.Page{Limit: 2, Offset: 2})
	if err != nil || len(page) != 1 || page[0].ID != ids[2] {
		t.Fatalf("second page %v, %v", page, err)
	}
}
