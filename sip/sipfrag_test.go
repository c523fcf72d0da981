package sip

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestParseSipfrag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, ct, body string
		status         int
		reason         string
		ok             bool
	}{
		{"crlf", "message/sipfrag", "SIP/2.0 200 OK\r\n", 200, "OK", true},
		{"version param", "message/sipfrag;version=2.0", "SIP/2.0 100 Trying\r\n", 100, "Trying", true},
		{"spaces and case", " Message/SipFrag ; version=2.0 ", "SIP/2.0 180 Ringing\r\n", 180, "Ringing", true},
		{"bare lf", "message/sipfrag", "SIP/2.0 200 Ok\n", 200, "Ok", true},
		{"no line end", "message/sipfrag", "SIP/2.0 486 Busy Here", 486, "Busy Here", true},
		{"headers follow", "message/sipfrag", "SIP/2.0 603 Declined\r\nContent-Length: 0\r\n\r\n", 603, "Declined", true},
		{"headers follow lf", "message/sipfrag", "SIP/2.0 183 Session Progress\nVia: x\n", 183, "Session Progress", true},
		{"leading blank line", "message/sipfrag", "\r\nSIP/2.0 200 OK\r\n", 200, "OK", true},
		{"no reason", "message/sipfrag", "SIP/2.0 200\r\n", 200, "", true},
		{"lower-case version", "message/sipfrag", "sip/2.0 503 Service Unavailable\r\n", 503, "Service Unavailable", true},
		{"empty content type", "", "SIP/2.0 200 OK\r\n", 200, "OK", true},
		{"utf-8 reason", "message/sipfrag", "SIP/2.0 480 Niet beschikbaar – later\r\n", 480, "Niet beschikbaar – later", true},

		{"other type", "text/plain", "SIP/2.0 200 OK\r\n", 0, "", false},
		{"sdp", "application/sdp", "v=0\r\n", 0, "", false},
		{"empty", "message/sipfrag", "", 0, "", false},
		{"blank", "message/sipfrag", " \r\n\r\n", 0, "", false},
		{"http", "message/sipfrag", "HTTP/1.1 200 OK\r\n", 0, "", false},
		{"request line", "message/sipfrag", "INVITE sip:a@b SIP/2.0\r\n", 0, "", false},
		{"sip 1.0", "message/sipfrag", "SIP/1.0 200 OK\r\n", 0, "", false},
		{"two digits", "message/sipfrag", "SIP/2.0 20 OK\r\n", 0, "", false},
		{"four digits", "message/sipfrag", "SIP/2.0 2000 OK\r\n", 0, "", false},
		{"too low", "message/sipfrag", "SIP/2.0 099 Odd\r\n", 0, "", false},
		{"too high", "message/sipfrag", "SIP/2.0 700 Odd\r\n", 0, "", false},
		{"letters", "message/sipfrag", "SIP/2.0 2x0 OK\r\n", 0, "", false},
		{"sign", "message/sipfrag", "SIP/2.0 +20 OK\r\n", 0, "", false},
		{"no code", "message/sipfrag", "SIP/2.0\r\n", 0, "", false},
		{"control char", "message/sipfrag", "SIP/2.0 200 O\x00K\r\n", 0, "", false},
		{"bad utf-8", "message/sipfrag", "SIP/2.0 200 \xff\xfe\r\n", 0, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, reason, err := ParseSipfrag(tc.ct, []byte(tc.body))
			if tc.ok != (err == nil) || status != tc.status || reason != tc.reason {
				t.Errorf("ParseSipfrag(%q, %q) = %d, %q, %v; want %d, %q, ok=%v", tc.ct, tc.body, status, reason, err, tc.status, tc.reason, tc.ok)
			}
		})
	}
}

func TestParseSipfragLongReason(t *testing.T) {
	t.Parallel()
	_, reason, err := ParseSipfrag("message/sipfrag", []byte("SIP/2.0 200 "+strings.Repeat("é", 300)))
	if err != nil || len(reason) > maxReasonLen || !utf8.ValidString(reason) {
		t.Errorf("long reason: %d bytes, valid=%v, err=%v", len(reason), utf8.ValidString(reason), err)
	}
}

// FuzzParseSipfrag: never panics; a success is a status in 100-699 and a
// printable UTF-8 reason of bounded length.
func FuzzParseSipfrag(f *testing.F) {
	for _, seed := range []struct{ ct, body string }{
		{"message/sipfrag", "SIP/2.0 200 OK\r\n"},
		{"message/sipfrag;version=2.0", "SIP/2.0 100 Trying\r\n"},
		{"message/sipfrag", "SIP/2.0 200 Ok\n"},
		{"message/sipfrag", "SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n\r\n"},
		{"message/sipfrag", "SIP/2.0 180 Ringing\nVia: SIP/2.0/UDP x\n"},
		{"", "SIP/2.0 603 Decline"},
		{"message/sipfrag", "\r\n\r\nSIP/2.0 200"},
		{"message/sipfrag", "HTTP/1.1 200 OK\r\n"},
		{"text/plain", "SIP/2.0 200 OK"},
		{"message/sipfrag", "\x00\xff garbage"},
		{"message/sipfrag", "SIP/2.0 999 Nine\r\n"},
		{";;;", ""},
	} {
		f.Add(seed.ct, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		status, reason, err := ParseSipfrag(ct, body)
		if err != nil {
			if status != 0 || reason != "" {
				t.Fatalf("error %v with status %d, reason %q", err, status, reason)
			}
			return
		}
		if status < 100 || status > 699 {
			t.Fatalf("status %d out of range", status)
		}
		if !utf8.ValidString(reason) || len(reason) > maxReasonLen {
			t.Fatalf("reason %q invalid or too long", reason)
		}
		for _, r := range reason {
			if r != '\t' && unicode.IsControl(r) {
				t.Fatalf("reason %q has a control character", reason)
			}
		}
	})
}
