package oauth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/voicedock/voicedock/oauth"
)

// FuzzVerify feeds the token parser whatever a client could send: it
// never panics, every refusal is one of the two errors, and nothing but
// the issuer's own token (or a spelling of it that decodes to the same
// bytes) is accepted, with that token's subject.
func FuzzVerify(f *testing.F) {
	is := newIssuer(f, resource)
	v := is.verifier(f)
	valid := is.token(f, "voicedock:write")
	f.Add(valid)
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("e30.e30.e30")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(t.Context(), token)
		if err != nil {
			if !errors.Is(err, oauth.ErrInvalidToken) && !errors.Is(err, oauth.ErrInsufficientScope) {
				t.Fatalf("%q: %v", token, err)
			}
			return
		}
		if p.Subject != "user-42" || !p.Write {
			t.Fatalf("%q accepted as %+v", token, p)
		}
	})
}
