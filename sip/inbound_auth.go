package sip

import (
	"crypto/hmac"
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
// makes the challenges and verifies the responses, computing the expected
// response with icholy/digest (the library our outbound side answers
// challenges with), so MD5 and SHA-256 answers are checked alike. Nonces
// are stateless: a timestamp and its HMAC under a per-UA key, so a
// challenged INVITE leaves nothing behind.
const (
	digestRealm    = "voicedock"
	nonceLifetime  = 5 * time.Minute
	nonceClockSkew = 5 * time.Second
	// digestChallengeAlgorithm is what our challenge offers. Answers in
	// SHA-256 are verified too, but the challenge stays MD5: trunks that
	// know only RFC 2617 (sipp 3.6, older PBXs) fail on a SHA-256
	// challenge, and RFC 8760's list of challenges trips those that read
	// only the first.
	digestChallengeAlgorithm = "MD5"
)

// digestAuth issues and checks the nonces of one user agent; a restart
// invalidates those outstanding.
type digestAuth struct {
	key []byte
}

func newDigestAuth() (*digestAuth, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("sip: nonce key: %w", err)
	}
	return &digestAuth{key: k}, nil
}

// newNonce is a fresh nonce: hex of the time in Unix nanoseconds and of
// the first 16 bytes of its HMAC.
func (d *digestAuth) newNonce(now time.Time) string {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(now.UnixNano()))
	return hex.EncodeToString(ts[:]) + hex.EncodeToString(d.nonceMAC(ts[:]))
}

func (d *digestAuth) nonceMAC(ts []byte) []byte {
	m := hmac.New(sha256.New, d.key)
	m.Write(ts)
	return m.Sum(nil)[:16]
}

// checkNonce reports whether nonce is ours (ours) and, if so, whether it
// is still fresh.
func (d *digestAuth) checkNonce(nonce string, now time.Time) (ours, fresh bool) {
	raw, err := hex.DecodeString(nonce)
	if err != nil || len(raw) != 8+16 {
		return false, false
	}
	if !hmac.Equal(raw[8:], d.nonceMAC(raw[:8])) {
		return false, false
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(raw[:8])))
	age := now.Sub(issued)
	return true, age >= -nonceClockSkew && age <= nonceLifetime
}

// authorize fills in inv's Authorization and VerifyDigest when req
// carries a digest answer to a fresh challenge of ours, computed for
// this request's Request-URI; it reports a stale answer, which the next
// challenge says so.
func (d *digestAuth) authorize(req *sip.Request, inv *core.InboundInvite, now time.Time) (stale bool) {
	h := req.GetHeader("Authorization")
	if h == nil {
		return false
	}
	raw := h.Value()
	cred, err := digest.ParseCredentials(raw)
	if err != nil || cred.Realm != digestRealm || cred.Userhash || !verifiableAlgorithm(cred.Algorithm) {
		return false
	}
	// RFC 2617 3.2.2.5: an answer computed for another URI may be a
	// replay of one seen elsewhere.
	if !sameRequestURI(cred.URI, req.Recipient) {
		return false
	}
	ours, fresh := d.checkNonce(cred.Nonce, now)
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

// verifiableAlgorithm reports whether an answer's algorithm is one
// verifyDigest checks; none named is MD5.
func verifiableAlgorithm(alg string) bool {
	switch strings.ToUpper(alg) {
	case "", "MD5", "SHA-256":
		return true
	}
	return false
}

// sameRequestURI reports whether the digest-uri of an answer names the
// Request-URI: the same text, or the same scheme, user, host and port.
func sameRequestURI(digestURI string, target sip.Uri) bool {
	if digestURI == target.String() {
		return true
	}
	var u sip.Uri
	if err := sip.ParseUri(digestURI, &u); err != nil {
		return false
	}
	return strings.EqualFold(u.Scheme, target.Scheme) && u.User == target.User &&
		strings.EqualFold(u.Host, target.Host) && u.Port == target.Port
}

// verifyDigest checks a response (qop auth or none) against username and
// password by computing the response they give for the same challenge.
func verifyDigest(c *digest.Credentials, method, username, password string) bool {
	if subtle.ConstantTimeCompare([]byte(c.Username), []byte(username)) != 1 {
		return false
	}
	chal := &digest.Challenge{Realm: c.Realm, Nonce: c.Nonce, Algorithm: c.Algorithm, Opaque: c.Opaque}
	switch c.QOP {
	case "":
	case "auth":
		if c.Cnonce == "" || c.Nc == 0 {
			return false // the library would make up its own
		}
		chal.QOP = []string{"auth"}
	default:
		return false
	}
	want, err := digest.Digest(chal, digest.Options{
		Method: method, URI: c.URI, Username: username, Password: password,
		Cnonce: c.Cnonce, Count: c.Nc,
	})
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(c.Response)), []byte(want.Response)) == 1
}
