package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/server"
	"github.com/voicedock/voicedock/transport"
	"github.com/voicedock/voicedock/transport/peer"
)

// nodeIDFile keeps, in the data directory, the id a node generated for
// itself: a restart keeps it, and so finds its previous run's calls.
const nodeIDFile = "node-id"

// clustered reports whether this server is one node of several sharing
// the store (VOICEDOCK_NODE_URL set); unset, it runs alone as always.
func (c config) clustered() bool { return c.NodeURL != "" }

// checkNode checks the node settings: none, or a URL and a key (and
// optionally an id and a lease) together.
func (c config) checkNode() error {
	if !c.clustered() {
		if c.NodeID != "" || c.NodeKey != "" {
			return errors.New("configuration: VOICEDOCK_NODE_ID and VOICEDOCK_NODE_KEY need VOICEDOCK_NODE_URL (this node's MCP URL as the other nodes reach it)")
		}
		return nil
	}
	if u, err := url.Parse(c.NodeURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("configuration: VOICEDOCK_NODE_URL must be an http(s) URL such as http://10.0.0.5:8080/mcp")
	}
	if len(c.NodeKey) < transport.MinKeyLength {
		return fmt.Errorf("configuration: VOICEDOCK_NODE_URL needs VOICEDOCK_NODE_KEY, the secret the nodes share (%d characters or more)", transport.MinKeyLength)
	}
	if c.NodeID != "" && !validNodeID(c.NodeID) {
		return errors.New("configuration: VOICEDOCK_NODE_ID may have 1-64 letters, digits, '.', '_' and '-'")
	}
	if c.NodeLease < 300*time.Millisecond || c.NodeLease > 10*time.Minute {
		return errors.New("configuration: VOICEDOCK_NODE_LEASE must be between 300ms and 10m")
	}
	return nil
}

func validNodeID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// loadOrCreateNodeID returns VOICEDOCK_NODE_ID, or the id kept in the
// data directory, made on the first start. Not the host name: several
// nodes on one machine (each with its own data directory) must differ.
func loadOrCreateNodeID(cfg config) (string, error) {
	if cfg.NodeID != "" {
		return cfg.NodeID, nil
	}
	path := filepath.Join(cfg.DataDir, nodeIDFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if !validNodeID(id) {
			return "", fmt.Errorf("node id in %s is not valid: remove the file or set VOICEDOCK_NODE_ID", path)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read node id: %w", err)
	}
	raw := make([]byte, 6)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("make node id: %w", err)
	}
	id := "node-" + hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep node id: %w", err)
	}
	return id, nil
}

// joinCluster makes the call manager a node of the cluster: its lease
// recorded, renewed and the lost nodes' calls swept from now on. It runs
// before the restart's recovery, which then ends only this node's calls.
func (a *app) joinCluster(ctx context.Context) error {
	if !a.cfg.clustered() {
		return nil
	}
	if a.mode != "http" {
		return errors.New("VOICEDOCK_NODE_URL: a node serves MCP over HTTP (--transport http), where the other nodes reach it")
	}
	id, err := loadOrCreateNodeID(a.cfg)
	if err != nil {
		return err
	}
	a.nodeID = id
	return a.calls.JoinCluster(ctx, core.NodeConfig{
		Node:  core.Node{ID: id, URL: a.cfg.NodeURL},
		Store: a.store,
		Lease: a.cfg.NodeLease,
	})
}

// forwarder carries tool calls for calls other nodes hold; nil alone.
func (a *app) forwarder() server.Forwarder {
	if a.nodeID == "" {
		return nil
	}
	// A forwarded call lasts as long as the owner works on it (a
	// transfer's outcome): no overall timeout, the request's context ends it.
	return peer.New(a.nodeID, a.cfg.NodeKey, version(), &http.Client{})
}

// nodeKey is the key other nodes authenticate with; "" alone.
func (a *app) nodeKey() string {
	if a.nodeID == "" {
		return ""
	}
	return a.cfg.NodeKey
}
