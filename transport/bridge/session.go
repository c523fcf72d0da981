package bridge

import (
	"context"
	"net/http"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

func (b *bridge) hasSession() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.session != ""
}

// endSession ends the session with DELETE, as a closing client does.
func (b *bridge) endSession() {
	b.mu.Lock()
	session, version, gone := b.session, b.version, b.goneErr != nil
	b.mu.Unlock()
	if session == "" || gone {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, b.cfg.URL, nil)
	if err != nil {
		return
	}
	for k, v := range b.cfg.Header {
		req.Header[k] = v
	}
	req.Header.Set(mcpserver.HeaderKeySessionID, session)
	if version != "" {
		req.Header.Set(mcp.HeaderProtocolVersion, version)
	}
	resp, err := b.cfg.Client.Do(req)
	if err != nil {
		b.logger.Debug("bridge: end session", "err", err)
		return
	}
	resp.Body.Close()
}
