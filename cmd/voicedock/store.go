package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/postgres"
	"github.com/voicedock/voicedock/store/secret"
	"github.com/voicedock/voicedock/store/sqlite"
	"github.com/voicedock/voicedock/transport"
)

// store is what the server keeps its state in: SQLite in the data
// directory, or PostgreSQL shared by several nodes (VOICEDOCK_DATABASE_URL).
type store interface {
	core.Store
	core.CallStore
	core.DeliveryStore
	core.ConversationStore
	core.StatsStore
	core.TaskRecords
	core.NodeStore
}

// The PostgreSQL store keeps the API keys' rate limit buckets for all
// the nodes.
var _ transport.SharedRateLimit = (*postgres.Store)(nil)

// openStore opens the PostgreSQL store when VOICEDOCK_DATABASE_URL is set,
// else the SQLite store of the data directory.
func (a *app) openStore(ctx context.Context) error {
	if a.cfg.DatabaseURL != "" {
		return a.openShared(ctx)
	}
	key, err := sqlite.LoadOrCreateKey(a.cfg.DataDir, a.cfg.SecretKey)
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	s, err := sqlite.Open(ctx, filepath.Join(a.cfg.DataDir, "voicedock.db"), key, a.logger)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	a.store = s
	return nil
}

// openShared opens the PostgreSQL store. Its secrets must open on every
// node, so the key is VOICEDOCK_SECRET_KEY, the same on all: a key file
// generated in one node's data directory would be that node's alone.
func (a *app) openShared(ctx context.Context) error {
	if a.cfg.SecretKey == "" {
		return errors.New("VOICEDOCK_DATABASE_URL needs VOICEDOCK_SECRET_KEY, the same on every node, to seal the secrets it stores (generate one with `openssl rand -base64 32`)")
	}
	key, err := secret.DecodeKey(a.cfg.SecretKey)
	if err != nil {
		return fmt.Errorf("VOICEDOCK_SECRET_KEY: %w", err)
	}
	s, err := postgres.Open(ctx, a.cfg.DatabaseURL, key, a.logger)
	if err != nil {
		return err
	}
	a.store = s
	return nil
}

// sharedRateLimit is where the API keys' rate limit buckets are kept for
// every node, when the store is shared (PostgreSQL); nil counts on this
// node alone.
func (a *app) sharedRateLimit() transport.SharedRateLimit {
	if s, ok := a.store.(transport.SharedRateLimit); ok {
		return s
	}
	return nil
}
