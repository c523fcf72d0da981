package webhooks

import (
	"strings"
	"testing"
)

// FuzzVerify lives in a file of its own that needs no other test file, so
// that scripts/test.sh can build its fuzz binary from the package and this
// file alone: instrumented, the package's other tests would link the SQLite
// store, and the fuzzer walks every coverage counter of the binary on each
// execution.
func FuzzVerify(f *testing.F) {
	f.Add("s3cr3t", int64(1767604442), []byte(`{"a":1}`), "sha256=00")
	f.Add("k", int64(-1), []byte{}, "sha256="+strings.Repeat("g", 64))
	f.Add("", int64(0), []byte(nil), "")
	f.Fuzz(func(t *testing.T, secret string, ts int64, body []byte, header string) {
		sig := Sign(secret, ts, body)
		if ok := Verify(secret, sig, ts, body); ok != (secret != "") {
			t.Fatalf("Verify(Sign) = %v with secret %q", ok, secret)
		}
		// Whatever header verifies is the signature, up to the case of
		// its hex digits.
		if Verify(secret, header, ts, body) && !strings.EqualFold(header, sig) {
			t.Fatalf("Verify accepted %q, the signature is %q", header, sig)
		}
		if Verify(secret, header, ts, body) && !strings.HasPrefix(header, "sha256=") {
			t.Fatalf("Verify accepted %q without the prefix", header)
		}
	})
}
