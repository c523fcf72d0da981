package secret

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
)

func TestSealer(t *testing.T) {
	sl, err := NewSealer(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	a, err := sl.Seal("s3cret", "trunks.password", "id-1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := sl.Seal("s3cret", "trunks.password", "id-1")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Error("two seals of one secret are equal: the nonce is not random")
	}
	if len(a) != 12+len("s3cret")+16 {
		t.Errorf("sealed length %d", len(a))
	}
	if got, err := sl.Open(a, "trunks.password", "id-1"); err != nil || got != "s3cret" {
		t.Fatalf("open: %q, %v", got, err)
	}
	for _, c := range []struct{ column, id string }{
		{"trunks.password", "id-2"},
		{"assistants.webhook_secret", "id-1"},
	} {
		_, err := sl.Open(a, c.column, c.id)
		if err == nil || !strings.Contains(err.Error(), "wrong VOICEDOCK_SECRET_KEY?") {
			t.Errorf("open as %s of %s: %v", c.column, c.id, err)
		}
	}
	if _, err := sl.Open(a[:10], "trunks.password", "id-1"); err == nil {
		t.Error("a truncated ciphertext opened")
	}

	empty, err := sl.Seal("", "trunks.password", "id-1")
	if err != nil || empty != nil {
		t.Fatalf("empty secret sealed as %x, %v; want nil", empty, err)
	}
	if got, err := sl.Open(nil, "trunks.password", "id-1"); err != nil || got != "" {
		t.Fatalf("NULL opened as %q, %v", got, err)
	}
	// modernc.org/sqlite reads a zero-length BLOB as []byte{} since
	// v1.63.0, where it read nil before: it is the empty secret too.
	if got, err := sl.Open([]byte{}, "trunks.password", "id-1"); err != nil || got != "" {
		t.Fatalf("zero-length BLOB opened as %q, %v", got, err)
	}

	other, err := NewSealer(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Open(a, "trunks.password", "id-1"); err == nil {
		t.Error("another key opened the secret")
	}
	if _, err := NewSealer(make([]byte, 31)); err == nil {
		t.Error("a 31-byte key was accepted")
	}
}

func newKey(t *testing.T) []byte {
	t.Helper()
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}
