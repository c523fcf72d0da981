package main

import (
	"context"
	"net"
	"os"
	"time"

	"github.com/voicedock/voicedock/owner"
	"github.com/voicedock/voicedock/transport"
)

// serveOwnerSocket serves MCP on the data directory's Unix socket for
// attached clients until the stage stops, and tells waiting processes the
// owner is ready. Without a socket (the path is too long, or it cannot
// listen) the server runs on: only attaching is off, and attachers say why.
func (a *app) serveOwnerSocket(s *stage) {
	info := owner.Info{PID: os.Getpid(), Version: version(), StartedAt: time.Now().UTC()}
	path, err := owner.SocketPath(a.cfg.DataDir)
	if err != nil {
		a.logger.Warn("no socket for other clients to attach to", "err", err)
		if err := a.lock.Ready(info); err != nil {
			a.logger.Warn("owner info", "err", err)
		}
		return
	}
	s.task(func(ctx context.Context) {
		ready := false
		err := transport.ServeUnix(ctx, a.mcp.MCP, path, transport.HTTPConfig{
			MaxBodyBytes: a.cfg.MaxBodyBytes,
			// The socket's clients are this user's own agents, like the
			// stdio client: no per-client request limit (the per-call
			// command limit still applies).
			RateLimitPerMinute: -1,
			AnswerStored:       a.mcp.AnswerStoredTask,
		}, a.logger, func(net.Addr) {
			ready = true
			info.Socket, info.URL = path, ownerURL
			if err := a.lock.Ready(info); err != nil {
				a.logger.Warn("owner info", "err", err)
			}
			a.logger.Info("mcp socket listening", "socket", path)
		})
		if err != nil {
			a.logger.Warn("no socket for other clients to attach to", "err", err)
			if !ready {
				_ = a.lock.Ready(info)
			}
		}
	})
}

// socketPath is the owner socket's path, "" when there is none.
func (a *app) socketPath() string {
	path, err := owner.SocketPath(a.cfg.DataDir)
	if err != nil {
		return ""
	}
	return path
}
