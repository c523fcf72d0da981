package server

import (
	"slices"
	"testing"
	"unicode/utf8"
)

// FuzzRoundTripState: a requestState comes back from the client, so any
// string must open without panicking, only a state this server signed
// opens, and what it signed opens unchanged.
func FuzzRoundTripState(f *testing.F) {
	s := newStateSigner()
	f.Add("", "+31201234567")
	f.Add(s.sign(roundTripState{Confirmed: []string{"+31201234567"}, Asked: "sip:desk@example.com"}), "x")
	f.Add("e30.AAAA", "")
	f.Fuzz(func(t *testing.T, token, dest string) {
		if st, ok := s.open(token); ok && token != s.sign(st) {
			t.Fatalf("opened a state it did not sign: %q", token)
		}
		if !utf8.ValidString(dest) {
			return // destinations are checked (E.164 or a SIP URI) before they are asked about
		}
		want := roundTripState{Confirmed: []string{dest}, Asked: dest}
		got, ok := s.open(s.sign(want))
		if !ok || got.Asked != dest || !slices.Equal(got.Confirmed, want.Confirmed) {
			t.Fatalf("sign/open %q: %+v %v", dest, got, ok)
		}
	})
}
