package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/voicedock/voicedock/owner"
	"github.com/voicedock/voicedock/transport"
	"github.com/voicedock/voicedock/transport/bridge"
)

// ownerWait bounds how long a starting process waits for another one that
// is starting on the same data directory (opening the store, binding SIP).
const ownerWait = 2 * time.Minute

// ownerURL is the MCP endpoint on the owner's socket; the host is only
// what the Host header says (localhost passes mcp-go's DNS-rebinding check).
const ownerURL = "http://localhost" + transport.MCPPath

// acquireOwnership takes the data directory, or returns owner.ErrOwned.
func acquireOwnership(ctx context.Context, dir string) (*owner.Lock, error) {
	ctx, cancel := context.WithTimeout(ctx, ownerWait)
	defer cancel()
	return owner.Acquire(ctx, dir)
}

// attachLocal bridges stdio to the process that owns dir, over its socket.
func attachLocal(ctx context.Context, dir string, stdin io.Reader, stdout io.Writer, logger *slog.Logger) error {
	info, err := owner.ReadInfo(dir)
	if err != nil {
		return fmt.Errorf("%s is owned by another voicedock process, which cannot be reached: %w", dir, err)
	}
	if info.Socket == "" {
		return fmt.Errorf("%s is owned by voicedock process %d, which serves no socket to attach to (see its log)", dir, info.PID)
	}
	gone, err := owner.Watch(dir)
	if err != nil {
		return err
	}
	logger.Info("attaching to the voicedock process that owns the data directory", "pid", info.PID, "socket", info.Socket)
	return bridge.Run(ctx, bridge.Config{
		URL:    ownerURL,
		Client: bridge.UnixClient(info.Socket),
		Server: fmt.Sprintf("the voicedock server owning %s (pid %d)", dir, info.PID),
		Gone:   gone,
	}, stdin, stdout, logger)
}

// attachRemote bridges stdio to the voicedock server at VOICEDOCK_CONNECT.
func attachRemote(ctx context.Context, cfg config, stdin io.Reader, stdout io.Writer, logger *slog.Logger) error {
	header := http.Header{}
	if cfg.ConnectKey != "" {
		header.Set("Authorization", "Bearer "+cfg.ConnectKey)
	}
	u, _ := url.Parse(cfg.Connect) // checked by loadConfig
	logger.Info("attaching to a remote voicedock server", "url", u.Redacted())
	return bridge.Run(ctx, bridge.Config{
		URL:    cfg.Connect,
		Client: &http.Client{},
		Header: header,
		Server: "the voicedock server at " + u.Redacted(),
	}, stdin, stdout, logger)
}
