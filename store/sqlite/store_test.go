package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlrows"
	"github.com/voicedock/voicedock/store/storetest"
)

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
	return openAt(t, path, storetest.NewKey(t)), path
}

// TestStore runs the stores' shared suite on SQLite files.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		path := filepath.Join(t.TempDir(), "voicedock.db")
		db, err := sql.Open("sqlite", dsn(path, false))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return storetest.Backend{
			Open: func(t testing.TB, key []byte) (storetest.Store, error) {
				return Open(t.Context(), path, key, nil)
			},
			DB: numberedParams{db},
		}
	})
}

// numberedParams runs the suite's queries, written with $1, $2, ... for
// both backends, as SQLite's ?1, ?2, ...
type numberedParams struct{ db *sql.DB }

var dollarParam = regexp.MustCompile(`\$(\d+)`)

func (n numberedParams) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return n.db.ExecContext(ctx, dollarParam.ReplaceAllString(query, "?$1"), args...)
}

func (n numberedParams) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return n.db.QueryRowContext(ctx, dollarParam.ReplaceAllString(query, "?$1"), args...)
}

// TestTimesAreStoredAsUTCMillisecondText checks the stored form of times:
// ISO 8601 text in UTC with milliseconds, which sorts as the times do.
func TestTimesAreStoredAsUTCMillisecondText(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	amsterdam := time.FixedZone("CEST", 2*60*60)
	at := time.Date(2025, 6, 1, 14, 30, 15, 123456789, amsterdam)
	tr := storetest.TrunkFixture(t, "PBX")
	tr.CreatedAt, tr.UpdatedAt = at, at.Add(time.Second)
	if err := s.CreateTrunk(ctx, tr); err != nil {
		t.Fatal(err)
	}
	c := storetest.BareCall(t, core.CallInProgress)
	c.StartedAt = &at
	storetest.CreateCalls(t, s, c)
	xfer := storetest.TransferFixture(t, c.ID, core.TransferTrying)
	xfer.Steps = []core.TransferStep{{Status: core.TransferRequested, At: at}}
	storetest.SaveTransfers(t, s, xfer)
	for _, q := range []struct{ sql, id, want string }{
		{"SELECT created_at FROM trunks WHERE id = ?", tr.ID, "2025-06-01T12:30:15.123Z"},
		{"SELECT started_at FROM calls WHERE id = ?", c.ID, "2025-06-01T12:30:15.123Z"},
		{"SELECT steps FROM transfers WHERE id = ?", xfer.ID, `[{"status":"requested","at":"2025-06-01T12:30:15.123Z"}]`},
	} {
		var raw string
		if err := s.read.QueryRowContext(ctx, q.sql, q.id).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if raw != q.want {
			t.Errorf("%s: stored %q, want %q", q.sql, raw, q.want)
		}
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
	if _, err := Open(t.Context(), "", storetest.NewKey(t), nil); err == nil {
		t.Error("Open accepted an empty path")
	}
	if _, err := Open(t.Context(), filepath.Join(dir, "missing", "a.db"), storetest.NewKey(t), nil); err == nil {
		t.Error("Open created a file in a directory that does not exist")
	}
}

func TestOpenPathWithOddCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a dir?x=1#frag", "my db%20.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	s := openAt(t, path, storetest.NewKey(t))
	tr := storetest.TrunkFixture(t, "odd")
	if err := s.CreateTrunk(t.Context(), tr); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
}

func TestFailedTransactionChangesNothing(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	tr := storetest.TrunkFixture(t, "PBX")
	boom := errors.New("boom")
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO trunks (id, name, host, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
			tr.ID, tr.Name, tr.Host, sqlrows.FormatTime(tr.CreatedAt), sqlrows.FormatTime(tr.UpdatedAt)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	_, err = s.GetTrunk(ctx, tr.ID)
	storetest.MustCode(t, err, core.CodeNotFound, "id")
}

// TestSecretsAreNotInTheFile looks for the secrets in the database file
// and its write-ahead log, before and after a checkpoint (storetest
// checks the columns).
func TestSecretsAreNotInTheFile(t *testing.T) {
	s, path := openTemp(t)
	ctx := t.Context()
	const (
		password  = "pw-Zebra-Quokka-7731"
		secret    = "whsec-Narwhal-Okapi-4410"
		plainText = "user-Axolotl-Dugong-2289" // a field stored as is: proves the search works
	)
	tr := storetest.TrunkFixture(t, "PBX")
	tr.Password, tr.Username = password, plainText
	a := storetest.AssistantFixture(t, "Front desk")
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
}
