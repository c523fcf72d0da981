package oauth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/voicedock/voicedock/oauth"
)

// issuer is a small authorization server for tests: a key pair and its
// JWKS served on loopback. Its tokens are what a real one would issue.
type issuer struct {
	URL      string
	JWKSURL  string
	key      *rsa.PrivateKey
	kid      string
	fetches  atomic.Int32
	Resource string
}

func newIssuer(t testing.TB, resource string) *issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key, kid: "key-1", Resource: resource}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jwks.json" {
			http.NotFound(w, r)
			return
		}
		is.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": is.kid, "use": "sig", "alg": "RS256",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	}))
	t.Cleanup(srv.Close)
	is.URL = srv.URL
	is.JWKSURL = srv.URL + "/jwks.json"
	return is
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// claims are a valid access token's claims for scope.
func (is *issuer) claims(scope string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss": is.URL, "aud": is.Resource, "sub": "user-42", "client_id": "claude",
		"scope": scope, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
}

// sign signs c with the issuer's key (or key, when given).
func (is *issuer) sign(t testing.TB, c jwt.MapClaims, key *rsa.PrivateKey) string {
	t.Helper()
	if key == nil {
		key = is.key
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = is.kid
	tok.Header["typ"] = "at+jwt"
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (is *issuer) token(t testing.TB, scope string) string {
	return is.sign(t, is.claims(scope), nil)
}

func (is *issuer) verifier(t testing.TB) *oauth.Verifier {
	t.Helper()
	v, err := oauth.New(t.Context(), oauth.Config{Issuer: is.URL, JWKSURL: is.JWKSURL, Resource: is.Resource}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
