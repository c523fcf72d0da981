package storetest

import (
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

func TrunkFixture(t *testing.T, name string) core.Trunk {
	t.Helper()
	ts := Now()
	return core.Trunk{
		ID: NewID(t),
		TrunkConfig: core.TrunkConfig{
			Name: name, Host: "pbx.example.com", Port: 5061, Transport: core.TransportTLS,
			Username: "voicedock", Password: "pw-" + name,
		},
		CreatedAt: ts,
		UpdatedAt: ts,
	}
}

func testTrunkCRUD(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	tr := TrunkFixture(t, "PBX")
	if err := s.CreateTrunk(ctx, tr); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetTrunk(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	MustEqual(t, got, tr)

	tr.Host, tr.Port, tr.Transport, tr.Password = "10.0.0.1", 5060, core.TransportUDP, "new-password"
	tr.UpdatedAt = tr.UpdatedAt.Add(time.Second)
	if err := s.UpdateTrunk(ctx, tr); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetTrunk(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	MustEqual(t, got, tr)

	tr.Password = ""
	if err := s.UpdateTrunk(ctx, tr); err != nil {
		t.Fatal(err)
	}
	var password []byte
	if err := be.DB.QueryRowContext(ctx, "SELECT password FROM trunks WHERE id = $1", tr.ID).Scan(&password); err != nil {
		t.Fatal(err)
	}
	if password != nil {
		t.Errorf("an empty password is stored as %x, want NULL", password)
	}
	if got, _ := s.GetTrunk(ctx, tr.ID); got.Password != "" {
		t.Errorf("password %q, want none", got.Password)
	}

	if err := s.DeleteTrunk(ctx, tr.ID, false); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetTrunk(ctx, tr.ID)
	MustCode(t, err, core.CodeNotFound, "id")
}

func testTrunkNotFound(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	tr := TrunkFixture(t, "ghost")
	_, err := s.GetTrunk(ctx, tr.ID)
	MustCode(t, err, core.CodeNotFound, "id")
	MustCode(t, s.UpdateTrunk(ctx, tr), core.CodeNotFound, "id")
	MustCode(t, s.DeleteTrunk(ctx, tr.ID, false), core.CodeNotFound, "id")
	MustCode(t, s.DeleteTrunk(ctx, tr.ID, true), core.CodeNotFound, "id")
	if _, total, err := s.ListTrunks(ctx, core.Page{}); err != nil || total != 0 {
		t.Errorf("a failed update created something: total %d, %v", total, err)
	}
}

func testListTrunksPaging(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	var ids []string
	for i := range 5 {
		tr := TrunkFixture(t, string(rune('a'+i)))
		if err := s.CreateTrunk(ctx, tr); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tr.ID)
	}
	page, total, err := s.ListTrunks(ctx, core.Page{Limit: 2, Offset: 1})
	if err != nil {
		t.Fatal(err)
	}
	if total != 5 || len(page) != 2 || page[0].ID != ids[1] || page[1].ID != ids[2] {
		t.Fatalf("total %d, page %v", total, page)
	}
	if page[0].Password != "pw-b" {
		t.Errorf("password %q", page[0].Password)
	}
	page, total, err = s.ListTrunks(ctx, core.Page{Limit: 10, Offset: 5})
	if err != nil || total != 5 || len(page) != 0 {
		t.Fatalf("past the end: total %d, %d listed, %v", total, len(page), err)
	}
	_, _, err = s.ListTrunks(ctx, core.Page{Offset: -1})
	MustCode(t, err, core.CodeInvalidRequest, "offset")
}

func testDeleteTrunkInUse(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	tr := TrunkFixture(t, "PBX")
	if err := s.CreateTrunk(ctx, tr); err != nil {
		t.Fatal(err)
	}
	numbers := []string{"+31201234565", "+31201234561", "+31201234564", "+31201234563", "+31201234562"}
	var ids []string
	for _, e164 := range numbers {
		n := NumberFixture(t, e164, nil, &tr.ID)
		if err := s.CreatePhoneNumber(ctx, n); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, n.ID)
	}

	err := s.DeleteTrunk(ctx, tr.ID, false)
	MustCode(t, err, core.CodeConflict, "id")
	want := "trunk is used by phone numbers +31201234561, +31201234562, +31201234563 and 2 more; detach them first or delete with force"
	if got := core.AsError(err).Message; got != want {
		t.Errorf("message %q\nwant    %q", got, want)
	}
	if _, err := s.GetTrunk(ctx, tr.ID); err != nil {
		t.Fatalf("a refused delete removed the trunk: %v", err)
	}

	if err := s.DeleteTrunk(ctx, tr.ID, true); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetTrunk(ctx, tr.ID)
	MustCode(t, err, core.CodeNotFound, "id")
	for _, id := range ids {
		n, err := s.GetPhoneNumber(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if n.TransferTrunkID != nil {
			t.Errorf("number %s still has trunk %s", n.PhoneNumber, *n.TransferTrunkID)
		}
	}
}
