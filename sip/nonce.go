package sip

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/voicedock/voicedock/core"
)

// maxUsedNonces bounds the nonces remembered as answered; see nonceGuard.
const maxUsedNonces = 100_000

// nonceGuard keeps a captured digest answer from being replayed, which
// the stateless nonces alone allow for their whole lifetime.
//
// Each challenge carries an opaque value, the HMAC of its nonce and the
// address it was sent to: an answer from any other address, or with the
// opaque of another nonce, is not ours. A challenge still leaves nothing
// behind. Once an answer has passed the password check, its nonce is
// remembered until it expires, with its highest nonce count: a later
// answer must count higher (qop=auth), and one without qop may not use
// the nonce again. Only authenticated answers take room, so a flood of
// INVITEs cannot fill the set; when it is full nonetheless (maxUsedNonces
// answers within a nonce's lifetime), further answers are refused rather
// than forgetting one that could then be replayed.
type nonceGuard struct {
	key []byte
	now func() time.Time
	// check is the stateless check of an answer (authorize), nonce makes
	// a fresh nonce (newNonce): the guard adds to them.
	check func(req *sip.Request, inv *core.InboundInvite, now time.Time) (stale bool)
	nonce func(now time.Time) string

	mu   sync.Mutex
	used map[string]usedNonce
}

type usedNonce struct {
	nc      uint32
	expires time.Time
}

// newNonceGuard guards the answers check accepts, on nonces nonce makes.
func newNonceGuard(check func(*sip.Request, *core.InboundInvite, time.Time) bool, nonce func(time.Time) string) (*nonceGuard, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("sip: nonce binding key: %w", err)
	}
	return &nonceGuard{key: k, now: time.Now, check: check, nonce: nonce, used: map[string]usedNonce{}}, nil
}

// opaque binds nonce to the source address.
func (g *nonceGuard) opaque(nonce string, src netip.Addr) string {
	m := hmac.New(sha256.New, g.key)
	m.Write([]byte(nonce))
	m.Write([]byte{0})
	m.Write([]byte(src.Unmap().String()))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// challenge is the WWW-Authenticate header of a 401 to src; stale when
// the INVITE answered a challenge of ours that has expired.
func (g *nonceGuard) challenge(now time.Time, stale bool, src netip.AddrPort) sip.Header {
	nonce := g.nonce(now)
	c := digest.Challenge{
		Realm:     digestRealm,
		Nonce:     nonce,
		Opaque:    g.opaque(nonce, src.Addr()),
		Algorithm: digestChallengeAlgorithm,
		QOP:       []string{"auth"},
		Stale:     stale,
	}
	return sip.NewHeader("WWW-Authenticate", c.String())
}

// authorize is the check (digestAuth.authorize, inbound_auth.go) for answers bound to the
// INVITE's source and not seen before: an answer that is not is treated
// as none (the INVITE is challenged afresh), and the password check
// records the nonce's use.
func (g *nonceGuard) authorize(req *sip.Request, inv *core.InboundInvite, now time.Time) (stale bool) {
	h := req.GetHeader("Authorization")
	if h == nil {
		return false
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil || !hmac.Equal([]byte(cred.Opaque), []byte(g.opaque(cred.Nonce, inv.Source.Addr()))) {
		return false
	}
	stale = g.check(req, inv, now)
	if verify := inv.VerifyDigest; verify != nil {
		nonce, nc, qop := cred.Nonce, uint32(cred.Nc), cred.QOP
		inv.VerifyDigest = func(username, password string) bool {
			return verify(username, password) && g.use(nonce, nc, qop != "")
		}
	}
	return stale
}

// use records an authenticated answer with nonce count nc (counted says
// whether the answer has one) and reports whether it is new.
func (g *nonceGuard) use(nonce string, nc uint32, counted bool) bool {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if prev, seen := g.used[nonce]; seen && now.Before(prev.expires) {
		if !counted || nc <= prev.nc {
			return false
		}
		g.used[nonce] = usedNonce{nc: nc, expires: prev.expires}
		return true
	}
	if len(g.used) >= maxUsedNonces {
		for n, u := range g.used {
			if !now.Before(u.expires) {
				delete(g.used, n)
			}
		}
		if len(g.used) >= maxUsedNonces {
			return false
		}
	}
	// A nonce is accepted for nonceLifetime after it was issued; kept
	// that long after its first use, it has expired before it is
	// forgotten.
	g.used[nonce] = usedNonce{nc: nc, expires: now.Add(nonceLifetime + nonceClockSkew)}
	return true
}
