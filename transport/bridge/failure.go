package bridge

import (
	"encoding/json"
	"fmt"
	"strings"
)

// reply answers a pending request with a JSON-RPC error.
func (b *bridge) reply(p *pending, code int, message string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.goneErr != nil || b.done(p.id) == nil || p.own {
		return
	}
	b.write(errorMessage(p.id, code, message))
}

// refused answers a message the server refused with an HTTP error that is
// not JSON-RPC (401 with a bad key, 403, 429, a proxy's page).
func (b *bridge) refused(env envelope, status int, body []byte) {
	msg := fmt.Sprintf("%s refused the message: HTTP %d", b.cfg.Server, status)
	var apiErr struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &apiErr) == nil && apiErr.Error.Message != "" {
		msg += ": " + apiErr.Error.Message
	} else if text := strings.TrimSpace(string(body)); text != "" && len(text) < 200 {
		msg += ": " + text
	}
	if !env.isRequest() {
		b.logger.Warn("bridge: "+msg, "method", env.Method)
		return
	}
	b.mu.Lock()
	p := b.inflight[idKey(env.ID)]
	b.mu.Unlock()
	if p != nil {
		b.reply(p, GoneCode, msg)
	}
}

// fail records that the server is gone: every request in flight gets an
// error, and Run returns err.
func (b *bridge) fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.goneErr != nil {
		return
	}
	for _, p := range b.inflight {
		if !p.own {
			b.write(errorMessage(p.id, GoneCode, err.Error()))
		}
		b.done(p.id)
	}
	b.goneErr = err
	close(b.gone)
}
