package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// signaturePrefix starts every X-Webhook-Signature.
const signaturePrefix = "sha256="

// Sign returns the X-Webhook-Signature of body sent at timestamp (Unix
// seconds, as in X-Webhook-Timestamp): "sha256=" and the lower-case hex
// HMAC-SHA256, keyed with secret, of the timestamp in decimal, a dot and
// the body as sent.
func Sign(secret string, timestamp int64, body []byte) string {
	return signaturePrefix + hex.EncodeToString(mac(secret, timestamp, body))
}

// Verify reports whether signatureHeader is the signature of body sent at
// timestamp with secret, comparing in constant time. An empty secret, a
// header without the "sha256=" prefix, or one that is not 64 hex digits
// never verifies. Receivers should also refuse timestamps far from their
// clock (5 minutes is usual): Verify does not know the time.
func Verify(secret, signatureHeader string, timestamp int64, body []byte) bool {
	if secret == "" {
		return false
	}
	hexSum, ok := strings.CutPrefix(signatureHeader, signaturePrefix)
	if !ok || len(hexSum) != 2*sha256.Size {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return false
	}
	return hmac.Equal(got, mac(secret, timestamp, body))
}

func mac(secret string, timestamp int64, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write(strconv.AppendInt(nil, timestamp, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}
