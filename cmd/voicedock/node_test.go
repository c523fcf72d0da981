package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNodeConfig: the node settings come together or not at all, and a
// node's id is kept across restarts in its data directory.
func TestNodeConfig(t *testing.T) {
	t.Parallel()
	base := map[string]string{"HOME": t.TempDir()}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	const key = "0123456789abcdef0123"
	for _, tc := range []struct {
		env  map[string]string
		fail string
	}{
		{with(), ""},
		{with("VOICEDOCK_NODE_URL", "http://127.0.0.1:8080/mcp", "VOICEDOCK_NODE_KEY", key), ""},
		{with("VOICEDOCK_NODE_URL", "http://127.0.0.1:8080/mcp", "VOICEDOCK_NODE_KEY", key, "VOICEDOCK_NODE_ID", "node-1", "VOICEDOCK_NODE_LEASE", "1s"), ""},
		{with("VOICEDOCK_NODE_ID", "node-1"), "need VOICEDOCK_NODE_URL"},
		{with("VOICEDOCK_NODE_KEY", key), "need VOICEDOCK_NODE_URL"},
		{with("VOICEDOCK_NODE_URL", "http://127.0.0.1:8080/mcp"), "needs VOICEDOCK_NODE_KEY"},
		{with("VOICEDOCK_NODE_URL", "http://127.0.0.1:8080/mcp", "VOICEDOCK_NODE_KEY", "short"), "needs VOICEDOCK_NODE_KEY"},
		{with("VOICEDOCK_NODE_URL", "127.0.0.1:8080", "VOICEDOCK_NODE_KEY", key), "http(s) URL"},
		{with("VOICEDOCK_NODE_URL", "http://127.0.0.1:8080/mcp", "VOICEDOCK_NODE_KEY", key, "VOICEDOCK_NODE_ID", "a b"), "VOICEDOCK_NODE_ID"},
		{with("VOICEDOCK_NODE_URL", "http://127.0.0.1:8080/mcp", "VOICEDOCK_NODE_KEY", key, "VOICEDOCK_NODE_LEASE", "10ms"), "VOICEDOCK_NODE_LEASE"},
	} {
		_, err := loadConfig(tc.env)
		switch {
		case tc.fail == "" && err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.fail != "" && (err == nil || !strings.Contains(err.Error(), tc.fail)):
			t.Errorf("%v: error %v, want one saying %q", tc.env, err, tc.fail)
		case err != nil && strings.Contains(err.Error(), key):
			t.Errorf("an error names the node key: %v", err)
		}
	}

	dir := t.TempDir()
	cfg := config{DataDir: dir, NodeURL: "http://127.0.0.1:8080/mcp"}
	first, err := loadOrCreateNodeID(cfg)
	if err != nil || !validNodeID(first) {
		t.Fatalf("generated node id %q: %v", first, err)
	}
	again, err := loadOrCreateNodeID(cfg)
	if err != nil || again != first {
		t.Fatalf("node id after a restart %q, want %q (%v)", again, first, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, nodeIDFile)); strings.TrimSpace(string(b)) != first {
		t.Fatalf("kept node id %q", b)
	}
	cfg.NodeID = "set-by-env"
	if id, _ := loadOrCreateNodeID(cfg); id != "set-by-env" {
		t.Fatalf("VOICEDOCK_NODE_ID ignored: %q", id)
	}
}
