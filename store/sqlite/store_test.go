package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// newKey returns a random 32-byte key.
func newKey(t testing.TB) []byte {
	t.Helper()
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

// openAt opens the store at path and closes it when the test ends.
func openAt(t testing.TB, path string, key []byte) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, key, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// openTemp opens a new store in a temporary directory.
func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "voicedock.db")
	return openAt(t, path, newKey(t)), path
}

func newID(t testing.TB) string {
	t.Helper()
	id, err := core.NewID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// now is a timestamp as the service makes them: UTC, milliseconds.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func ptr[T any](v T) *T { return &v }

func mustCode(t *testing.T, err error, code core.Code, param string) {
	t.Helper()
	if !core.HasCode(err, code) {
		t.Fatalf("got error %v, want code %s", err, code)
	}
	if e := core.AsError(err); e.Param != param {
		t.Fatalf("got param %q, want %q (error %v)", e.Param, param, err)
	}
}

func mustEqual[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestOpenSetsPragmas(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	for name, db := range map[string]*sql.DB{"writer": s.write, "reader": s.read} {
		var mode string
		var fk, sync int
		if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || fk != 1 || sync != 1 {
			t.Errorf("%s: journal_mode=%s foreign_keys=%d synchronous=%d, want wal 1 1", name, mode, fk, sync)
		}
	}
	if _, err := s.read.ExecContext(ctx, "DELETE FROM trunks"); err == nil {
		t.Error("the reader pool accepted a write")
	}
}

func TestOpenRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(t.Context(), filepath.Join(dir, "a.db"), make([]byte, 16), nil); err == nil {
		t.Error("Open accepted a 16-byte key")
	}
	if _, err := Open(t.Context(), "", newKey(t), nil); err == nil {
		t.Error("Open accepted an empty path")
	}
	if _, err := Open(t.Context(), filepath.Join(dir, "missing", "a.db"), newKey(t), nil); err == nil {
		t.Error("Open created a file in a directory that does not exist")
	}
}

func TestOpenPathWithOddCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a dir?x=1#frag", "my db%20.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	s := openAt(t, path, newKey(t))
	tr := trunkFixture(t, "odd")
	if err := s.CreateTrunk(t.Context(), tr); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "voicedock.db")
	key := newKey(t)
	ctx := t.Context()

	s, err := Open(ctx, path, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := assistantFixture(t, "Front desk")
	tr := trunkFixture(t, "PBX")
	n := numberFixture(t, "+31201234567", &a.ID, &tr.ID)
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

	s = openAt(t, path, key)
	gotA, err := s.GetAssistant(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, gotA, a)
	gotT, err := s.GetTrunk(ctx, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, gotT, tr)
	gotN, err := s.GetPhoneNumber(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, gotN, n)
}

func TestSecretsAreNotStoredInTheClear(t *testing.T) {
	s, path := openTemp(t)
	ctx := t.Context()
	const (
		password  = "pw-Zebra-Quokka-7731"
		secret    = "whsec-Narwhal-Okapi-4410"
		plainText = "user-Axolotl-Dugong-2289" // a field stored as is: proves the search works
	)
	tr := trunkFixture(t, "PBX")
	tr.Password, tr.Username = password, plainText
	a := assistantFixture(t, "Front desk")
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

	check := func(stage string) {
		t.Helper()
		var all []byte
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			b, err := os.ReadFile(p)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, plain := range []string{password, secret} {
				if bytes.Contains(b, []byte(plain)) {
					t.Errorf("%s: %s contains the secret %q in the clear", stage, filepath.Base(p), plain)
				}
			}
			all = append(all, b...)
		}
		if !bytes.Contains(all, []byte(plainText)) {
			t.Errorf("%s: the files do not contain the username either: is the search looking at the data?", stage)
		}
	}
	check("before checkpoint")
	if _, err := s.write.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	check("after checkpoint")

	var config string
	if err := s.read.QueryRowContext(ctx, "SELECT config FROM assistants WHERE id = ?", a.ID).Scan(&config); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"webhook_secret", `"id"`, "created_at", "updated_at"} {
		if strings.Contains(config, field) {
			t.Errorf("config document has %s: %s", field, config)
		}
	}
	if !strings.Contains(config, `"first_message":"Hello, Acme here."`) {
		t.Errorf("config document lacks the configuration: %s", config)
	}
}

func TestWrongKeyFailsOnReadingTheSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "voicedock.db")
	ctx := t.Context()
	s, err := Open(ctx, path, newKey(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	withPassword := trunkFixture(t, "with password")
	without := trunkFixture(t, "without password")
	without.Password = ""
	a := assistantFixture(t, "Front desk")
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

	s = openAt(t, path, newKey(t))
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

func TestCiphertextMovedToAnotherRowFails(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	a, b := trunkFixture(t, "A"), trunkFixture(t, "B")
	x, y := assistantFixture(t, "X"), assistantFixture(t, "Y")
	for _, err := range []error{
		s.CreateTrunk(ctx, a), s.CreateTrunk(ctx, b), s.CreateAssistant(ctx, x), s.CreateAssistant(ctx, y),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []struct{ sql, from, to string }{
		{"UPDATE trunks SET password = (SELECT password FROM trunks WHERE id = ?) WHERE id = ?", a.ID, b.ID},
		{"UPDATE assistants SET webhook_secret = (SELECT webhook_secret FROM assistants WHERE id = ?) WHERE id = ?", x.ID, y.ID},
	} {
		if _, err := s.write.ExecContext(ctx, q.sql, q.from, q.to); err != nil {
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

func TestTimestampsAreUTCMilliseconds(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	amsterdam := time.FixedZone("CEST", 2*60*60)
	created := time.Date(2025, 6, 1, 14, 30, 15, 123456789, amsterdam)
	tr := trunkFixture(t, "PBX")
	tr.CreatedAt, tr.UpdatedAt = created, created.Add(time.Second)
	if err := s.CreateTrunk(ctx, tr); err != nil {
		t.Fatal(err)
	}
	var raw string
	if err := s.read.QueryRowContext(ctx, "SELECT created_at FROM trunks WHERE id = ?", tr.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if raw != "2025-06-01T12:30:15.123Z" {
		t.Errorf("stored created_at %q", raw)
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

func TestFailedTransactionChangesNothing(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	tr := trunkFixture(t, "PBX")
	boom := errors.New("boom")
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO trunks (id, name, host, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
			tr.ID, tr.Name, tr.Host, formatTime(tr.CreatedAt), formatTime(tr.UpdatedAt)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	_, err = s.GetTrunk(ctx, tr.ID)
	mustCode(t, err, core.CodeNotFound, "id")
}

func TestConcurrentReadsAndWrites(t *testing.T) {
	s, _ := openTemp(t)
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
func writer(ctx context.Context, s *Store, w, rounds int) error {
	for i := range rounds {
		id, err := core.NewID()
		if err != nil {
			return err
		}
		ts := now()
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
func reader(ctx context.Context, s *Store, rounds int) error {
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
