package webhooks

import (
	"strconv"
	"strings"
	"testing"
)

func TestSignMatchesTheDocumentedAlgorithm(t *testing.T) {
	body := []byte(`{"message":{"type":"status-update"}}`)
	const secret, ts = "whsec_test", int64(1767604442)
	got := Sign(secret, ts, body)
	if want := signature(secret, strconv.FormatInt(ts, 10), body); got != want {
		t.Fatalf("Sign %q, want %q", got, want)
	}
	if !strings.HasPrefix(got, "sha256=") || len(got) != len("sha256=")+64 || strings.ToLower(got) != got {
		t.Errorf("Sign %q is not sha256= and 64 lower-case hex digits", got)
	}
	// Fixed vectors, computed with openssl dgst -sha256 -hmac, so that a
	// change to the algorithm cannot pass unnoticed.
	if want := "sha256=a38ef3bd5357f144bf5d9ae81ffeb0616f5da9a60339ccf5ee6b9073bd15360f"; got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
	if got, want := Sign("key", 0, nil), "sha256=85841b4efc3cd7776c3c8f9b7cca9e281c550e5d19889d78e9e669c6337f000d"; got != want {
		t.Errorf("Sign(key, 0, nil) = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"message":{"type":"end-of-call-report","summary":"Handed to billing."}}`)
	const secret, ts = "s3cr3t", int64(1767604442)
	good := Sign(secret, ts, body)
	hexSum := strings.TrimPrefix(good, "sha256=")
	for _, tc := range []struct {
		name, secret, header string
		ts                   int64
		body                 []byte
		want                 bool
	}{
		{"good", secret, good, ts, body, true},
		{"upper-case hex", secret, "sha256=" + strings.ToUpper(hexSum), ts, body, true},
		{"missing prefix", secret, hexSum, ts, body, false},
		{"other prefix", secret, "sha1=" + hexSum, ts, body, false},
		{"upper-case prefix", secret, "SHA256=" + hexSum, ts, body, false},
		{"empty", secret, "", ts, body, false},
		{"prefix only", secret, "sha256=", ts, body, false},
		{"bad hex", secret, "sha256=" + hexSum[:62] + "zz", ts, body, false},
		{"short", secret, "sha256=" + hexSum[:62], ts, body, false},
		{"long", secret, good + "00", ts, body, false},
		{"odd length", secret, good + "0", ts, body, false},
		{"space", secret, " " + good, ts, body, false},
		{"two signatures", secret, good + "," + good, ts, body, false},
		{"wrong secret", "other", good, ts, body, false},
		{"empty secret", "", Sign("", ts, body), ts, body, false},
		{"other timestamp", secret, good, ts + 1, body, false},
		{"other body", secret, good, ts, append([]byte(nil), append(body, ' ')...), false},
		{"no body", secret, good, ts, nil, false},
	} {
		if got := Verify(tc.secret, tc.header, tc.ts, tc.body); got != tc.want {
			t.Errorf("%s: Verify = %v, want %v", tc.name, got, tc.want)
		}
	}
}
