package bridge

import (
	"fmt"
	"io"
	"net/http"
)

// listenStream holds the session's GET stream open and forwards what comes
// on it: notifications and server requests not tied to a client request
// (resource updates, list changes, pings). It reconnects after a cut,
// resuming after the last event; a server that refuses it ends the bridge.
func (b *bridge) listenStream() {
	defer b.wg.Done()
	lastEvent := ""
	// empty counts streams in a row that ended without an event: a server
	// that keeps cutting the stream at once is not served by reconnecting.
	empty := 0
	for b.ctx.Err() == nil {
		req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.cfg.URL, nil)
		if err != nil {
			b.fail(fmt.Errorf("bridge: %w", err))
			return
		}
		b.header(req.Header, envelope{}, false)
		req.Header.Set("Accept", "text/event-stream")
		if lastEvent != "" {
			req.Header.Set("Last-Event-ID", lastEvent)
		}
		resp, err := b.cfg.Client.Do(req)
		if err != nil {
			if b.ctx.Err() == nil {
				b.fail(fmt.Errorf("%s stopped answering: %w", b.cfg.Server, err))
			}
			return
		}
		switch {
		case resp.StatusCode == http.StatusMethodNotAllowed:
			// The server offers no GET stream; its messages come on POSTs.
			resp.Body.Close()
			return
		case resp.StatusCode == http.StatusNotFound:
			resp.Body.Close()
			b.fail(fmt.Errorf("%s ended this session (it is shutting down or restarted)", b.cfg.Server))
			return
		case resp.StatusCode == http.StatusBadRequest && lastEvent != "":
			// The server lost the events to resume from: start afresh.
			resp.Body.Close()
			lastEvent = ""
			continue
		case resp.StatusCode != http.StatusOK:
			resp.Body.Close()
			b.fail(fmt.Errorf("%s refused the event stream: HTTP %d", b.cfg.Server, resp.StatusCode))
			return
		}
		events := 0
		last, err := readSSE(resp.Body, func(_, data string) {
			events++
			b.receive(envelope{}, []byte(data))
		})
		resp.Body.Close()
		if last != "" {
			lastEvent = last
		}
		if b.ctx.Err() != nil {
			return
		}
		if events == 0 {
			empty++
		} else {
			empty = 0
		}
		if empty >= 3 {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			b.fail(fmt.Errorf("%s keeps closing the event stream: %w", b.cfg.Server, err))
			return
		}
		// The stream ended (the server closed it, or it was cut):
		// reconnect; a server that is gone refuses the connection or the
		// session, and that ends the bridge.
	}
}
