package transport

import (
	"net/http"
	"strings"
	"testing"
)

const testNodeKey = "node-key-0123456789abcdef"

// TestNodeKey: a request bearing the node key and naming its node is
// accepted as that node acting for the actor it names, with write scope
// and outside the rate limit; the node key without a node name, or a
// wrong key with one, is refused; the key never reaches the log.
func TestNodeKey(t *testing.T) {
	cfg := HTTPConfig{Keys: testKeys, NodeKey: testNodeKey, RateLimitPerMinute: 1}
	ts := startHTTP(t, cfg)
	node := map[string]string{"Authorization": "Bearer " + testNodeKey, HeaderNode: "node-b", HeaderActor: "agent-7"}
	// Well past the limit of one a minute.
	for i := range 3 {
		if r := do(t, http.MethodPost, ts.url, node, initializeBody(legacyVersion)); r.status != http.StatusOK {
			t.Fatalf("node request %d: %d %s", i, r.status, r.body)
		}
	}
	for name, h := range map[string]map[string]string{
		"node key, no node":  {"Authorization": "Bearer " + testNodeKey},
		"wrong key, a node":  {"Authorization": "Bearer wrong-key-0123456789abcdef", HeaderNode: "node-b"},
		"no key, a node":     {HeaderNode: "node-b"},
		"node name too long": {"Authorization": "Bearer " + testNodeKey, HeaderNode: strings.Repeat("n", 200)},
	} {
		if r := do(t, http.MethodPost, ts.url, h, initializeBody(legacyVersion)); r.status != http.StatusUnauthorized {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	if strings.Contains(ts.logs.String(), testNodeKey) {
		t.Error("the node key is in the log")
	}
}

// TestNodeCaller: the caller a node request makes is the actor it names,
// carried by that node (core.Actor.ViaNode), with write scope.
func TestNodeCaller(t *testing.T) {
	k, err := newNodeKey(testNodeKey)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/mcp", nil)
	r.Header.Set("Authorization", "Bearer "+testNodeKey)
	r.Header.Set(HeaderNode, "node-b")
	c, ok := k.caller(r)
	if !ok || c.Node != "node-b" || c.KeyName != "node:node-b" || !c.CanWrite() {
		t.Fatalf("caller without an actor: %+v %v", c, ok)
	}
	r.Header.Set(HeaderActor, "agent-7")
	if c, _ := k.caller(r); c.KeyName != "agent-7" {
		t.Fatalf("caller with an actor: %+v", c)
	}
	if _, err := newNodeKey("short"); err == nil {
		t.Fatal("a short node key was accepted")
	}
	var none *nodeKey
	if _, ok := none.caller(r); ok {
		t.Fatal("a single server accepted a node request")
	}
}
