package core

import (
	"fmt"
	"testing"
)

// The cache answers what ParseE164 answers: the same info for a valid
// number, the same error for an invalid one, which it does not keep; and
// it stays within its bound.
func TestNumberCacheAnswersAsParseE164(t *testing.T) {
	c := newNumberCache()
	for range 2 { // the second time from the cache
		got, err := c.parse("destination", "+31612345678")
		want, werr := ParseE164("destination", "+31612345678")
		if err != nil || werr != nil || got != want {
			t.Fatalf("parse = %+v, %v; ParseE164 = %+v, %v", got, err, want, werr)
		}
	}
	for _, bad := range []string{"+3161234567899999", "+999123", "0612345678"} {
		_, err := c.parse("destination", bad)
		_, want := ParseE164("destination", bad)
		if err == nil || err.Error() != want.Error() {
			t.Fatalf("parse(%q) = %v, want %v", bad, err, want)
		}
		if _, kept := c.known[bad]; kept {
			t.Fatalf("invalid %q kept", bad)
		}
	}
	if len(c.known) != 1 {
		t.Fatalf("%d numbers kept, want 1", len(c.known))
	}
	for i := range numberCacheSize + 10 {
		if _, err := c.parse("to", fmt.Sprintf("+316%08d", 10000000+i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.known); n > numberCacheSize || n == 0 {
		t.Fatalf("%d numbers kept, want 1..%d", n, numberCacheSize)
	}
	var none *numberCache
	if _, err := none.parse("to", "+31612345678"); err != nil {
		t.Fatalf("nil cache: %v", err)
	}
}
