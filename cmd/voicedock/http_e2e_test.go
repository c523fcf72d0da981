package main

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

const testKey = "k-3f9a7c1e5b2d8f40a6"

// TestHTTPWithKey drives the built binary over streamable HTTP: a client
// with the key lists and calls tools; without it the server answers 401.
func TestHTTPWithKey(t *testing.T) {
	t.Parallel()
	url, logs := httpServer(t, t.TempDir(), "VOICEDOCK_API_KEYS=ops:"+testKey)
	c := httpClient(t, url, map[string]string{"Authorization": "Bearer " + testKey})
	res, err := c.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil || len(res.Tools) < len(wantTools()) {
		t.Fatalf("tools/list over HTTP: %v (%d tools)", err, len(res.Tools))
	}
	a := mustCall(t, c, "create_assistant", `{"name":"Over HTTP"}`)
	if field(a, "assistant", "name") != "Over HTTP" {
		t.Errorf("create over HTTP: %s", a.json)
	}

	for _, auth := range []string{"", "Bearer wrong-key-0000000000", "Basic " + testKey} {
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
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("auth %q: %d %q", auth, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if strings.Contains(logs.String(), testKey) {
		t.Error("the API key appears in the log")
	}

	health, err := http.Get(strings.TrimSuffix(url, "/mcp") + "/healthz")
	if err != nil || health.StatusCode != http.StatusOK {
		t.Errorf("healthz: %v %v", err, health)
	}
}

// TestHTTPRefusesOpenAddressWithoutKeys: the server will not listen beyond
// loopback unless API keys are set (it only checks; nothing listens).
func TestHTTPRefusesOpenAddressWithoutKeys(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(binary, "serve", "--transport", "http", "--http-addr", "0.0.0.0:0")
	cmd.Env = baseEnv(t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "VOICEDOCK_API_KEYS") {
		t.Errorf("serve on 0.0.0.0 without keys: err %v, output:\n%s", err, out)
	}
}
