package main

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
	"github.com/mark3labs/mcp-go/mcp"
)

// testIssuer is a small OAuth authorization server: a key pair whose
// public half is served as a JWKS on loopback, and tokens signed with it.
type testIssuer struct {
	url string
	key *rsa.PrivateKey
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	}))
	t.Cleanup(srv.Close)
	return &testIssuer{url: srv.URL, key: key}
}

func (is *testIssuer) token(t *testing.T, aud, scope string, exp time.Duration) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": is.url, "aud": aud, "sub": "alice", "client_id": "remote-agent", "scope": scope,
		"iat": now.Unix(), "exp": now.Add(exp).Unix(),
	})
	tok.Header["kid"] = "k1"
	s, err := tok.SignedString(is.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOAuthRemoteClient: the server as an OAuth resource server. A remote
// client finds the authorization server in the Protected Resource
// Metadata the 401 points at, and mcp-go's HTTP client with a valid
// access token works; a read token cannot write, a token for another
// resource or an expired one is refused, and the static API key still
// works beside it.
func TestOAuthRemoteClient(t *testing.T) {
	t.Parallel()
	is := newTestIssuer(t)
	const resource = "https://voicedock.test/mcp"
	url, logs := httpServer(t, t.TempDir(),
		"VOICEDOCK_API_KEYS=ops:"+testKey,
		"VOICEDOCK_OAUTH_ISSUER="+is.url,
		"VOICEDOCK_OAUTH_JWKS_URL="+is.url+"/jwks.json",
		"VOICEDOCK_OAUTH_RESOURCE="+resource)
	base := strings.TrimSuffix(url, "/mcp")

	// Discovery: 401 -> resource_metadata -> the metadata document.
	status, challenge := post(t, url, "")
	const metadataURL = "https://voicedock.test/.well-known/oauth-protected-resource/mcp"
	if status != http.StatusUnauthorized || !strings.Contains(challenge, `resource_metadata="`+metadataURL+`"`) {
		t.Fatalf("no credentials: %d %q", status, challenge)
	}
	res, err := http.Get(base + "/.well-known/oauth-protected-resource/mcp")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
	}
	err = json.NewDecoder(res.Body).Decode(&meta)
	res.Body.Close()
	if err != nil || meta.Resource != resource || len(meta.AuthorizationServers) != 1 || meta.AuthorizationServers[0] != is.url {
		t.Fatalf("metadata: %+v %v", meta, err)
	}

	// A write token: mcp-go's client lists and calls tools.
	write := is.token(t, resource, "voicedock:write", 10*time.Minute)
	c := httpClient(t, url, map[string]string{"Authorization": "Bearer " + write})
	if _, err := c.ListTools(t.Context(), mcp.ListToolsRequest{}); err != nil {
		t.Fatal(err)
	}
	if a := mustCall(t, c, "create_assistant", `{"name":"Via OAuth"}`); field(a, "assistant", "name") != "Via OAuth" {
		t.Fatalf("create: %s", a.json)
	}

	// A read token reads, and cannot write.
	read := is.token(t, resource, "voicedock:read", 10*time.Minute)
	rc := httpClient(t, url, map[string]string{"Authorization": "Bearer " + read})
	mustCall(t, rc, "list_assistants", `{}`)
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "create_assistant", map[string]any{"name": "nope"}
	if r, err := rc.CallTool(t.Context(), req); err == nil && !r.IsError {
		t.Fatal("a read token created an assistant")
	}

	// Refused tokens.
	for name, tok := range map[string]string{
		"another resource": is.token(t, "https://other.test/mcp", "voicedock:write", 10*time.Minute),
		"expired":          is.token(t, resource, "voicedock:write", -time.Hour),
	} {
		if status, challenge := post(t, url, "Bearer "+tok); status != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) {
			t.Errorf("%s: %d %q", name, status, challenge)
		}
	}
	if status, challenge := post(t, url, "Bearer "+is.token(t, resource, "openid", 10*time.Minute)); status != http.StatusForbidden || !strings.Contains(challenge, `error="insufficient_scope"`) {
		t.Errorf("no voicedock scope: %d %q", status, challenge)
	}

	// The static key still works.
	kc := httpClient(t, url, map[string]string{"Authorization": "Bearer " + testKey})
	mustCall(t, kc, "list_assistants", `{}`)

	if strings.Contains(logs.String(), write) || strings.Contains(logs.String(), read) {
		t.Error("an access token appears in the log")
	}
}

// post sends an initialize request with the given Authorization and
// returns the status and WWW-Authenticate.
func post(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}
