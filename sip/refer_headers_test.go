package sip

import (
	"net/url"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
)

func TestReferToURIHeaders(t *testing.T) {
	got, err := referToURI(core.ReferTarget{
		URI:     "sip:+31612345678@pbx.example.com:5080;transport=tcp",
		Headers: []core.SIPHeader{{Name: "X-Account", Value: "a b&c=d;e%f?<g>"}, {Name: "User-to-User", Value: "56a3;encoding=hex"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "sip:+31612345678@pbx.example.com:5080;transport=tcp?X-Account=a%20b%26c%3Dd%3Be%25f?%3Cg%3E&User-to-User=56a3%3Bencoding%3Dhex"
	if got != want {
		t.Errorf("Refer-To\n got %s\nwant %s", got, want)
	}
	got, err = referToURI(core.ReferTarget{URI: "sip:target@127.0.0.1:5062", Replaces: &core.SIPDialog{
		CallID: "abc@host", LocalTag: "ours", RemoteTag: "theirs",
	}})
	if err != nil {
		t.Fatal(err)
	}
	// RFC 3891: to-tag is the tag of the far side of the replaced dialog
	// (the one receiving the INVITE with Replaces), from-tag ours.
	if want := "sip:target@127.0.0.1:5062?Replaces=abc%40host%3Bto-tag%3Dtheirs%3Bfrom-tag%3Dours"; got != want {
		t.Errorf("Replaces\n got %s\nwant %s", got, want)
	}
	if _, err := referToURI(core.ReferTarget{URI: "sip:a@b", Headers: []core.SIPHeader{{Name: "X-A", Value: "x\r\nVia: evil"}}}); err == nil {
		t.Error("a header value with CRLF was sent")
	}
	if _, err := referToURI(core.ReferTarget{URI: "sip:a@b", Headers: []core.SIPHeader{{Name: "X A", Value: "x"}}}); err == nil {
		t.Error("a header name with a space was sent")
	}
}

// FuzzReferToHeaders: whatever sip_headers pass the core's validation come
// out of the Refer-To as a URI that cannot leave its <...>, parses with
// sipgo, and gives the same headers back once unescaped.
func FuzzReferToHeaders(f *testing.F) {
	f.Add("X-Account", "42", "Billing question: card declined")
	f.Add("User-to-User", "56a3;encoding=hex", "a\r\nb")
	f.Add("X-A", "%41&b=c?d", "é ü <>\"")
	f.Fuzz(func(t *testing.T, name, value, summary string) {
		hs, err := core.ValidateSIPHeaders("sip_headers", map[string]string{name: value})
		if err != nil {
			return
		}
		if s := strings.Join(strings.Fields(strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, summary)), " "); s != "" {
			hs = append(hs, core.SIPHeader{Name: core.SummaryHeader, Value: s})
		}
		uri, err := referToURI(core.ReferTarget{URI: "sip:+31612345678@127.0.0.1:5060", Headers: hs})
		if err != nil {
			t.Fatalf("validated headers %q refused: %v", hs, err)
		}
		if strings.ContainsAny(uri, "<>\" \t\r\n\x00,") {
			t.Fatalf("Refer-To %q holds a character that ends it", uri)
		}
		var parsed sip.Uri
		if err := sip.ParseUri(uri, &parsed); err != nil {
			t.Fatalf("Refer-To %q does not parse: %v", uri, err)
		}
		if len(parsed.Headers) != len(hs) {
			t.Fatalf("Refer-To %q: %d headers, want %d", uri, len(parsed.Headers), len(hs))
		}
		for i, h := range hs {
			v, err := url.PathUnescape(parsed.Headers[i].V)
			if parsed.Headers[i].K != h.Name || err != nil || v != h.Value {
				t.Fatalf("header %d of %q = %s: %q (%v), want %s: %q", i, uri, parsed.Headers[i].K, v, err, h.Name, h.Value)
			}
		}
	})
}
