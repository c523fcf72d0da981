package oauth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/voicedock/voicedock/oauth"
)

const resource = "https://voicedock.example.com/mcp"

func TestValidTokensMapToScopes(t *testing.T) {
	is := newIssuer(t, resource)
	v := is.verifier(t)
	p, err := v.Verify(t.Context(), is.token(t, "openid voicedock:write"))
	if err != nil || !p.Write || p.Subject != "user-42" || p.ClientID != "claude" {
		t.Fatalf("write token: %+v %v", p, err)
	}
	p, err = v.Verify(t.Context(), is.token(t, "voicedock:read"))
	if err != nil || p.Write {
		t.Fatalf("read token: %+v %v", p, err)
	}
	// scp as an array (some issuers), and aud as a list holding ours.
	c := is.claims("")
	c["scp"] = []string{"voicedock:write"}
	c["aud"] = []string{"https://other.example.com", resource}
	if p, err := v.Verify(t.Context(), is.sign(t, c, nil)); err != nil || !p.Write {
		t.Fatalf("scp array: %+v %v", p, err)
	}
	if _, err := v.Verify(t.Context(), is.token(t, "openid profile")); !errors.Is(err, oauth.ErrInsufficientScope) {
		t.Fatalf("no voicedock scope: %v", err)
	}
}

// TestRefusedTokens: every way a token can be wrong is ErrInvalidToken.
func TestRefusedTokens(t *testing.T) {
	is := newIssuer(t, resource)
	v := is.verifier(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	with := func(k string, val any) string {
		c := is.claims("voicedock:write")
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return is.sign(t, c, nil)
	}
	unsigned := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, is.claims("voicedock:write"))
		tok.Header["kid"] = is.kid
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The issuer's public key used as an HMAC secret: the classic
	// algorithm confusion.
	confused := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, is.claims("voicedock:write"))
		tok.Header["kid"] = is.kid
		pub, _ := json.Marshal(is.key.PublicKey)
		s, err := tok.SignedString(pub)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	wrongType := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, is.claims("voicedock:write"))
		tok.Header["kid"], tok.Header["typ"] = is.kid, "id_token+jwt"
		s, _ := tok.SignedString(is.key)
		return s
	}
	valid := is.token(t, "voicedock:write")
	for name, tok := range map[string]string{
		"expired":                    with("exp", time.Now().Add(-time.Hour).Unix()),
		"no expiry":                  with("exp", nil),
		"not yet valid":              with("nbf", time.Now().Add(time.Hour).Unix()),
		"other audience":             with("aud", "https://other.example.com/mcp"),
		"no audience":                with("aud", nil),
		"other issuer":               with("iss", "https://evil.example.com"),
		"unsigned":                   unsigned(),
		"another key":                is.sign(t, is.claims("voicedock:write"), other),
		"algorithm swap":             confused(),
		"not an access":              wrongType(),
		"signature cut":              valid[:strings.LastIndex(valid, ".")+1],
		"garbage":                    "not-a-token",
		"empty":                      "",
		"huge":                       strings.Repeat("a", oauth.MaxTokenBytes+1),
		"signature of another token": spliced(valid, with("sub", "someone-else")),
	} {
		if p, err := v.Verify(t.Context(), tok); !errors.Is(err, oauth.ErrInvalidToken) {
			t.Errorf("%s: %+v %v, want ErrInvalidToken", name, p, err)
		}
	}
}

// spliced is a's header and claims with b's signature.
func spliced(a, b string) string {
	return a[:strings.LastIndex(a, ".")] + b[strings.LastIndex(b, "."):]
}

func TestMetadataAndChallenge(t *testing.T) {
	is := newIssuer(t, resource)
	v := is.verifier(t)
	if got := v.MetadataPaths(); len(got) != 2 || got[0] != "/.well-known/oauth-protected-resource/mcp" || got[1] != oauth.WellKnownPath {
		t.Fatalf("paths %v", got)
	}
	rec := httptest.NewRecorder()
	v.ServeMetadata(rec, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-protected-resource/mcp", nil))
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m["resource"] != resource ||
		m["authorization_servers"].([]any)[0] != is.URL || len(m["scopes_supported"].([]any)) != 2 {
		t.Fatalf("metadata %s %v", rec.Body, err)
	}
	h, status := v.Challenge(nil)
	if status != 401 || !strings.HasPrefix(h, `Bearer resource_metadata="https://voicedock.example.com/.well-known/oauth-protected-resource/mcp"`) || strings.Contains(h, "error=") {
		t.Fatalf("no token: %d %s", status, h)
	}
	if h, status := v.Challenge(oauth.ErrInvalidToken); status != 401 || !strings.Contains(h, `error="invalid_token"`) {
		t.Fatalf("invalid: %d %s", status, h)
	}
	if h, status := v.Challenge(oauth.ErrInsufficientScope); status != 403 || !strings.Contains(h, `error="insufficient_scope"`) {
		t.Fatalf("scope: %d %s", status, h)
	}
}

func TestConfigIsChecked(t *testing.T) {
	for _, c := range []oauth.Config{
		{},
		{Issuer: "https://a.example.com", JWKSURL: "http://a.example.com/jwks", Resource: resource},
		{Issuer: "https://a.example.com", JWKSURL: "https://a.example.com/jwks", Resource: "mcp"},
		{Issuer: "https://a.example.com", JWKSURL: "http://127.evil.example/jwks", Resource: resource},
	} {
		if _, err := oauth.New(t.Context(), c, nil); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
