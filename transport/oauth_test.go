package transport

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/voicedock/voicedock/oauth"
)

const oauthResource = "https://voicedock.test/mcp"

// oauthHandler is an HTTP handler with one API key and OAuth access
// tokens from a local issuer, whose signer it returns.
func oauthHandler(t testing.TB) (*HTTPHandler, func(scope string) string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	}))
	t.Cleanup(jwks.Close)
	v, err := oauth.New(t.Context(), oauth.Config{Issuer: jwks.URL, JWKSURL: jwks.URL, Resource: oauthResource}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHTTPHandler(newTestMCPServer(), HTTPConfig{Keys: []APIKey{{Name: "ops", Key: "k-0123456789abcdef", Scope: ScopeWrite}}, OAuth: v}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(t.Context()) })
	sign := func(scope string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": jwks.URL, "aud": oauthResource, "sub": "alice", "scope": scope, "exp": time.Now().Add(time.Minute).Unix(),
		})
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return h, sign
}

// TestOAuthCallers: a token's scope becomes the caller's, the token is
// removed from the request, the key still works, and anything else is
// no caller.
func TestOAuthCallers(t *testing.T) {
	h, sign := oauthHandler(t)
	for _, tc := range []struct {
		auth, name, scope string
	}{
		{"Bearer " + sign("voicedock:write"), "oauth:alice", ScopeWrite},
		{"Bearer " + sign("voicedock:read"), "oauth:alice", ScopeRead},
		{"Bearer k-0123456789abcdef", "ops", ScopeWrite},
		{"Bearer " + sign("openid"), "", ""},
		{"Bearer nonsense", "", ""},
		{"", "", ""},
	} {
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		c, ok := h.guard.authenticate(r)
		if ok != (tc.name != "") || c.KeyName != tc.name || c.Scope != tc.scope {
			t.Errorf("%.30q: %+v %v", tc.auth, c, ok)
		}
		if strings.HasPrefix(c.KeyName, "oauth:") && r.Header.Get("Authorization") != "" {
			t.Errorf("the access token was left on the request")
		}
	}
	// Metadata without credentials, from any origin.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/.well-known/oauth-protected-resource/mcp", nil)
	req.Header.Set("Origin", "https://elsewhere.example")
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), oauthResource) {
		t.Errorf("metadata: %d %s", rec.Code, rec.Body)
	}
}

// FuzzAuthorizationHeader: whatever Authorization header arrives, the
// handler does not panic and authenticates no one but the key's holder
// and the issuer's tokens.
func FuzzAuthorizationHeader(f *testing.F) {
	h, sign := oauthHandler(f)
	valid := sign("voicedock:write")
	for _, s := range []string{"Bearer " + valid, "Bearer k-0123456789abcdef", "bearer  " + valid + " ", "Basic x", "Bearer", "Bearer e30.e30.", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		r.Header.Set("Authorization", header)
		c, ok := h.guard.authenticate(r)
		if ok && c.KeyName != "ops" && c.KeyName != "oauth:alice" {
			t.Fatalf("%q authenticated as %+v", header, c)
		}
	})
}
