package sqlite

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateKeyCreatesAndReuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	key, err := LoadOrCreateKey(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != KeySize {
		t.Fatalf("key of %d bytes", len(key))
	}
	path := filepath.Join(dir, KeyFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %v, want 0700", di.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(b)) != base64.StdEncoding.EncodeToString(key) {
		t.Errorf("file holds %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data directory holds %d entries, want only the key file", len(entries))
	}

	again, err := LoadOrCreateKey(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, key) {
		t.Error("a second call made a new key")
	}
}

func TestLoadOrCreateKeyRace(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = LoadOrCreateKey(dir, "") })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatal("racing callers got different keys")
		}
	}
	stored, err := LoadOrCreateKey(dir, "")
	if err != nil || !bytes.Equal(stored, keys[0]) {
		t.Fatalf("the file does not hold the key the callers got: %v", err)
	}
}

func TestLoadOrCreateKeyConfigured(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb, 0xef, 0x01, 0x7f}, 8) // has + and / in base64
	dir := t.TempDir()
	for name, s := range map[string]string{
		"std base64":     base64.StdEncoding.EncodeToString(raw),
		"raw base64":     base64.RawStdEncoding.EncodeToString(raw),
		"url base64":     base64.URLEncoding.EncodeToString(raw),
		"raw url base64": base64.RawURLEncoding.EncodeToString(raw),
		"hex":            hex.EncodeToString(raw),
		"upper hex":      strings.ToUpper(hex.EncodeToString(raw)),
		"with newline":   base64.StdEncoding.EncodeToString(raw) + "\n",
	} {
		key, err := LoadOrCreateKey(dir, s)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(key, raw) {
			t.Errorf("%s: decoded %x", name, key)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Error("a configured key wrote a key file")
	}
}

func TestLoadOrCreateKeyRejects(t *testing.T) {
	dir := t.TempDir()
	secretish := "not-a-key-but-maybe-a-password!"
	for name, s := range map[string]string{
		"16 bytes base64": base64.StdEncoding.EncodeToString(make([]byte, 16)),
		"33 bytes base64": base64.StdEncoding.EncodeToString(make([]byte, 33)),
		"62 hex":          strings.Repeat("ab", 31),
		"garbage":         secretish,
	} {
		_, err := LoadOrCreateKey(dir, s)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), "VOICEDOCK_SECRET_KEY") {
			t.Errorf("%s: error does not name the variable: %v", name, err)
		}
		if strings.Contains(err.Error(), s) {
			t.Errorf("%s: error repeats the value: %v", name, err)
		}
	}

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, KeyFileName), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(bad, ""); err == nil || !strings.Contains(err.Error(), KeyFileName) {
		t.Errorf("a bad key file: %v", err)
	}
	if _, err := LoadOrCreateKey("", ""); err == nil {
		t.Error("no key and no data directory: accepted")
	}
}
