package sip

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/voicedock/voicedock/core"
)

// Digest authentication of inbound INVITEs, for trunks whose inbound_auth
// is digest. The core decides whether an INVITE needs it and checks the
// trunk's credentials through core.InboundInvite.VerifyDigest; this file
// makes the challenges and verifies the responses. Nonces are stateless:
// a timestamp and its HMAC under a per-process key, so a challenged
// INVITE leaves nothing behind.
const (
	digestRealm    = "voicedock"
	nonceLifetime  = 5 * time.Minute
	nonceClockSkew = 5 * time.Second
)

// nonceKey signs our nonces; a restart invalidates those outstanding.
var nonceKey = func() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(fmt.Sprintf("sip: nonce key: %v", err))
	}
	return k
}()

// newNonce is a fresh nonce: hex of the time in Unix nanoseconds and of
// the first 16 bytes of its HMAC.
func newNonce(now time.Time) string {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(now.UnixNano()))
	return hex.EncodeToString(ts[:]) + hex.EncodeToString(nonceMAC(ts[:]))
}

func nonceMAC(ts []byte) []byte {
	m := hmac.New(sha256.New, nonceKey)
	m.Write(ts)
	return m.Sum(nil)[:16]
}

// checkNonce reports whether nonce is ours (ours) and, if so, whether it
// is still fresh.
func checkNonce(nonce string, now time.Time) (ours, fresh bool) {
	raw, err := hex.DecodeString(nonce)
	if err != nil || len(raw) != 8+16 {
		return false, false
	}
	if !hmac.Equal(raw[8:], nonceMAC(raw[:8])) {
		return false, false
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(raw[:8])))
	age := now.Sub(issued)
	return true, age >= -nonceClockSkew && age <= nonceLifetime
}

// authorize fills in inv's Authorization and VerifyDigest when req
// carries a digest answer to a fresh challenge of ours; it reports a
// stale answer, which the next challenge says so.
func authorize(req *sip.Request, inv *core.InboundInvite, now time.Time) (stale bool) {
	h := req.GetHeader("Authorization")
	if h == nil {
		return false
	}
	raw := h.Value()
	cred, err := digest.ParseCredentials(raw)
	if err != nil || cred.Realm != digestRealm || cred.Userhash ||
		(cred.Algorithm != "" && !strings.EqualFold(cred.Algorithm, "MD5")) {
		return false
	}
	ours, fresh := checkNonce(cred.Nonce, now)
	if !ours {
		return false
	}
	if !fresh {
		return true
	}
	method := string(req.Method)
	inv.Authorization = raw
	inv.VerifyDigest = func(username, password string) bool {
		return verifyDigest(cred, method, username, password)
	}
	return false
}

// verifyDigest checks an RFC 2617 MD5 response (with qop auth or none)
// against username and password.
func verifyDigest(c *digest.Credentials, method, username, password string) bool {
	if subtle.ConstantTimeCompare([]byte(c.Username), []byte(username)) != 1 {
		return false
	}
	ha1 := md5hex(username + ":" + digestRealm + ":" + password)
	ha2 := md5hex(method + ":" + c.URI)
	var want string
	switch c.QOP {
	case "":
		want = md5hex(ha1 + ":" + c.Nonce + ":" + ha2)
	case "auth":
		want = md5hex(fmt.Sprintf("%s:%s:%08x:%s:auth:%s", ha1, c.Nonce, c.Nc, c.Cnonce, ha2))
	default:
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(c.Response)), []byte(want)) == 1
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
