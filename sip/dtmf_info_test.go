package sip

import "testing"

func TestParseDTMFRelay(t *testing.T) {
	cases := []struct {
		ct, body, want string
		ok             bool
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", "5", true},
		{"Application/DTMF-Relay; charset=x", "signal= #\nDuration=100", "#", true},
		{"application/dtmf-relay", "Signal=11\r\n", "#", true},
		{"application/dtmf-relay", "Signal=10\r\n", "*", true},
		{"application/dtmf-relay", "Signal=d\r\n", "D", true},
		{"application/dtmf", "7", "7", true},
		{"application/dtmf-relay", "Signal=12\r\n", "", false},
		{"application/dtmf-relay", "Duration=160\r\n", "", false},
		{"application/sdp", "Signal=5", "", false},
		{"", "Signal=5", "", false},
	}
	for _, c := range cases {
		got, ok := parseDTMFRelay(c.ct, []byte(c.body))
		if got != c.want || ok != c.ok {
			t.Errorf("parseDTMFRelay(%q, %q) = %q, %v; want %q, %v", c.ct, c.body, got, ok, c.want, c.ok)
		}
	}
}

func FuzzParseDTMFRelay(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf", []byte("#"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		d, ok := parseDTMFRelay(ct, body)
		if ok && (len(d) != 1 || !isKey(d)) {
			t.Fatalf("accepted %q", d)
		}
		if !ok && d != "" {
			t.Fatalf("refused but returned %q", d)
		}
	})
}

func isKey(d string) bool {
	for _, k := range "0123456789*#ABCD" {
		if d == string(k) {
			return true
		}
	}
	return false
}
