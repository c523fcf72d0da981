package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

func NewID(t testing.TB) string {
	t.Helper()
	id, err := core.NewID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Now is a timestamp as the service makes them: UTC, milliseconds.
func Now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func Ptr[T any](v T) *T { return &v }

func MustCode(t *testing.T, err error, code core.Code, param string) {
	t.Helper()
	if !core.HasCode(err, code) {
		t.Fatalf("got error %v, want code %s", err, code)
	}
	if e := core.AsError(err); e.Param != param {
		t.Fatalf("got param %q, want %q (error %v)", e.Param, param, err)
	}
}

func MustEqual[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func testRestartKeepsEverything(t *testing.T, be Backend) {
	key := NewKey(t)
	ctx := t.Context()

	s, err := be.Open(t, key)
	if err != nil {
		t.Fatal(err)
	}
	a := AssistantFixture(t, "Front desk")
	tr := TrunkFixture(t, "PBX")
	n := NumberFixture(t, "+31201234567", &a.ID, &tr.ID)
	for _, err := range []error{
		s.CreateAssistant(ctx, a), s.CreateTrunk(ctx, tr), s.CreatePhoneNumber(ctx, n),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = be.openWith(t, key)
	gotA, err := s.GetAssistant(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	MustEqual(t, gotA, a)
	gotT, err := s.GetTrunk(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	MustEqual(t, gotT, tr)
	gotN, err := s.GetPhoneNumber(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	MustEqual(t, gotN, n)
}

func testSecretsAreNotStoredInTheClear(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	const (
		password  = "pw-Zebra-Quokka-7731"
		secret    = "whsec-Narwhal-Okapi-4410"
		plainText = "user-Axolotl-Dugong-2289" // a field stored as is: proves the search works
	)
	tr := TrunkFixture(t, "PBX")
	tr.Password, tr.Username = password, plainText
	a := AssistantFixture(t, "Front desk")
	a.WebhookSecret = secret
	if err := s.CreateTrunk(ctx, tr); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAssistant(ctx, a); err != nil {
		t.Fatal(err)
	}
	// An update writes a fresh ciphertext: it must not leak either.
	a.WebhookSecret = secret + "-2"
	if err := s.UpdateAssistant(ctx, a); err != nil {
		t.Fatal(err)
	}

	var (
		sealedPassword, sealedSecret []byte
		username, config             string
	)
	if err := be.DB.QueryRowContext(ctx, "SELECT password, username FROM trunks WHERE id = $1", tr.ID).
		Scan(&sealedPassword, &username); err != nil {
		t.Fatal(err)
	}
	if err := be.DB.QueryRowContext(ctx, "SELECT webhook_secret, config FROM assistants WHERE id = $1", a.ID).
		Scan(&sealedSecret, &config); err != nil {
		t.Fatal(err)
	}
	if username != plainText {
		t.Errorf("username stored as %q: is the query looking at the data?", username)
	}
	// A sealed secret is a 12-byte nonce, the ciphertext and a 16-byte tag.
	for _, c := range []struct {
		name, plain string
		sealed      []byte
	}{{"password", password, sealedPassword}, {"webhook_secret", a.WebhookSecret, sealedSecret}} {
		if bytes.Contains(c.sealed, []byte(c.plain)) || len(c.sealed) != 12+len(c.plain)+16 {
			t.Errorf("%s stored as %q, not sealed", c.name, c.sealed)
		}
	}
	if strings.Contains(config, secret) {
		t.Errorf("config document has the secret: %s", config)
	}

	// The config document holds the configuration only, not what has
	// columns of its own.
	var doc map[string]any
	if err := json.Unmarshal([]byte(config), &doc); err != nil {
		t.Fatalf("config document %s: %v", config, err)
	}
	for _, field := range []string{"webhook_secret", "id", "created_at", "updated_at"} {
		if _, ok := doc[field]; ok {
			t.Errorf("config document has %s: %s", field, config)
		}
	}
	if doc["first_message"] != "Hello, Acme here." {
		t.Errorf("config document lacks the configuration: %s", config)
	}
}

func testWrongKeyFailsOnReadingTheSecret(t *testing.T, be Backend) {
	ctx := t.Context()
	s, err := be.Open(t, NewKey(t))
	if err != nil {
		t.Fatal(err)
	}
	withPassword := TrunkFixture(t, "with password")
	without := TrunkFixture(t, "without password")
	without.Password = ""
	a := AssistantFixture(t, "Front desk")
	for _, err := range []error{
		s.CreateTrunk(ctx, withPassword), s.CreateTrunk(ctx, without), s.CreateAssistant(ctx, a),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = be.openWith(t, NewKey(t))
	checkDecryptError(t, func() error { _, err := s.GetTrunk(ctx, withPassword.ID); return err })
	checkDecryptError(t, func() error { _, err := s.GetAssistant(ctx, a.ID); return err })
	checkDecryptError(t, func() error { _, _, err := s.ListTrunks(ctx, core.Page{}); return err })
	if _, err := s.GetTrunk(ctx, without.ID); err != nil {
		t.Errorf("a trunk without a password: %v", err)
	}
}

func checkDecryptError(t *testing.T, call func() error) {
	t.Helper()
	err := call()
	if !core.HasCode(err, core.CodeInternal) {
		t.Fatalf("got %v, want an internal error", err)
	}
	var msgs []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		msgs = append(msgs, e.Error())
	}
	if !strings.Contains(strings.Join(msgs, " | "), "cannot decrypt") ||
		!strings.Contains(strings.Join(msgs, " | "), "wrong VOICEDOCK_SECRET_KEY?") {
		t.Fatalf("error chain does not explain the cause: %s", strings.Join(msgs, " | "))
	}
}

func testCiphertextMovedToAnotherRowFails(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	a, b := TrunkFixture(t, "A"), TrunkFixture(t, "B")
	x, y := AssistantFixture(t, "X"), AssistantFixture(t, "Y")
	for _, err := range []error{
		s.CreateTrunk(ctx, a), s.CreateTrunk(ctx, b), s.CreateAssistant(ctx, x), s.CreateAssistant(ctx, y),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []struct{ sql, from, to string }{
		{"UPDATE trunks SET password = (SELECT password FROM trunks WHERE id = $1) WHERE id = $2", a.ID, b.ID},
		{"UPDATE assistants SET webhook_secret = (SELECT webhook_secret FROM assistants WHERE id = $1) WHERE id = $2", x.ID, y.ID},
	} {
		if _, err := be.DB.ExecContext(ctx, q.sql, q.from, q.to); err != nil {
			t.Fatal(err)
		}
	}
	checkDecryptError(t, func() error { _, err := s.GetTrunk(ctx, b.ID); return err })
	checkDecryptError(t, func() error { _, err := s.GetAssistant(ctx, y.ID); return err })
	// The originals still decrypt.
	if got, err := s.GetTrunk(ctx, a.ID); err != nil || got.Password != a.Password {
		t.Fatalf("trunk A: %v, password %q", err, got.Password)
	}
	if got, err := s.GetAssistant(ctx, x.ID); err != nil || got.WebhookSecret != x.WebhookSecret {
		t.Fatalf("assistant X: %v, secret %q", err, got.WebhookSecret)
	}
}

func testTimestampsAreUTCMilliseconds(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	amsterdam := time.FixedZone("CEST", 2*60*60)
	created := time.Date(2025, 6, 1, 14, 30, 15, 123456789, amsterdam)
	tr := TrunkFixture(t, "PBX")
	tr.CreatedAt, tr.UpdatedAt = created, created.Add(time.Second)
	if err := s.CreateTrunk(ctx, tr); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetTrunk(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2025, 6, 1, 12, 30, 15, 123000000, time.UTC)
	if got.CreatedAt != want || got.UpdatedAt != want.Add(time.Second) {
		t.Errorf("got created %v updated %v, want %v", got.CreatedAt, got.UpdatedAt, want)
	}
}

func testConcurrentReadsAndWrites(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	const workers, rounds = 8, 15
	errs := make(chan error, workers*2)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { errs <- writer(ctx, s, w, rounds) })
		wg.Go(func() { errs <- reader(ctx, s, rounds) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	trunks, total, err := s.ListTrunks(ctx, core.Page{Limit: core.MaxPageLimit})
	if err != nil {
		t.Fatal(err)
	}
	if total != workers*rounds || len(trunks) != min(workers*rounds, core.MaxPageLimit) {
		t.Errorf("%d trunks (%d listed), want %d", total, len(trunks), workers*rounds)
	}
	_, total, err = s.ListPhoneNumbers(ctx, core.Page{})
	if err != nil || total != 0 {
		t.Errorf("%d numbers left (%v), want 0", total, err)
	}
}

// writer creates, updates, reads and deletes objects, as a client would.
func writer(ctx context.Context, s Store, w, rounds int) error {
	for i := range rounds {
		id, err := core.NewID()
		if err != nil {
			return err
		}
		ts := Now()
		tr := core.Trunk{ID: id, TrunkConfig: core.TrunkConfig{Name: "t", Host: "pbx.example.com", Port: 5060,
			Transport: core.TransportUDP, Username: "u", Password: fmt.Sprintf("pw-%d-%d", w, i)}, CreatedAt: ts, UpdatedAt: ts}
		if err := s.CreateTrunk(ctx, tr); err != nil {
			return fmt.Errorf("worker %d: %w", w, err)
		}
		tr.Name = "t2"
		if err := s.UpdateTrunk(ctx, tr); err != nil {
			return fmt.Errorf("worker %d: %w", w, err)
		}
		got, err := s.GetTrunk(ctx, tr.ID)
		if err != nil {
			return fmt.Errorf("worker %d: %w", w, err)
		}
		if got.Name != "t2" || got.Password != tr.Password {
			return fmt.Errorf("worker %d: read back %+v", w, got)
		}
		nid, err := core.NewID()
		if err != nil {
			return err
		}
		n := core.PhoneNumber{ID: nid, PhoneNumberConfig: core.PhoneNumberConfig{
			PhoneNumber: fmt.Sprintf("+3120%03d%04d", w, i), TransferTrunkID: &tr.ID}, CreatedAt: ts, UpdatedAt: ts}
		if err := s.CreatePhoneNumber(ctx, n); err != nil {
			return fmt.Errorf("worker %d: %w", w, err)
		}
		if err := s.DeletePhoneNumber(ctx, n.ID); err != nil {
			return fmt.Errorf("worker %d: %w", w, err)
		}
	}
	return nil
}

// reader lists and looks up while the writers write.
func reader(ctx context.Context, s Store, rounds int) error {
	for range rounds * 2 {
		list, total, err := s.ListTrunks(ctx, core.Page{Limit: 10})
		if err != nil {
			return err
		}
		if len(list) > total {
			return fmt.Errorf("%d listed of %d", len(list), total)
		}
		for _, tr := range list {
			if _, err := s.GetTrunk(ctx, tr.ID); err != nil {
				return err
			}
		}
		if _, _, err := s.ListPhoneNumbers(ctx, core.Page{}); err != nil {
			return err
		}
	}
	return nil
}
