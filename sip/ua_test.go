package sip

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"not an IP", Config{Addr: "example.com:5060"}, "must be an IP"},
		{"no port", Config{Addr: "127.0.0.1"}, "listen address"},
		{"wildcard without public address", Config{Addr: "0.0.0.0:5060"}, "PublicAddr"},
		{"unknown transport", Config{Addr: "127.0.0.1:0", Transports: []string{"sctp"}}, "unknown transport"},
		{"tls without certificate", Config{Addr: "127.0.0.1:0", Transports: []string{"tls"}}, "TLSCert"},
		{"missing certificate file", Config{Addr: "127.0.0.1:0", TLSCert: "/nonexistent.pem", TLSKey: "/nonexistent.key"}, "certificate"},
		{"bad RTP range", Config{Addr: "127.0.0.1:0", RTPPortMin: 20000, RTPPortMax: 10000}, "port range"},
		{"bad public port", Config{Addr: "127.0.0.1:0", PublicAddr: "203.0.113.5:99999"}, "bad port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, newRecorder(), logger); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error about %q", err, tc.want)
			}
		})
	}
	if _, err := New(Config{}, nil, logger); err == nil {
		t.Error("New accepted a nil handler")
	}
	if _, err := New(Config{}, newRecorder(), nil); err == nil {
		t.Error("New accepted a nil logger")
	}
}

// TestPublicAddr: Contact, Via and SDP carry the public address, not the
// bound one.
func TestPublicAddr(t *testing.T) {
	t.Parallel()
	h := startUA(t, newRecorder(), func(c *Config) { c.PublicAddr = "203.0.113.5:5099" })
	st := h.ua.net.Load()
	for _, tp := range []string{tpUDP, tpTCP} {
		ct := st.contacts[tp]
		if ct.Address.Host != "203.0.113.5" || ct.Address.Port != 5099 {
			t.Errorf("%s contact %s", tp, ct.Address.String())
		}
		if c := st.dialogs[tp].Client; c.Hostname() != "203.0.113.5" {
			t.Errorf("%s Via host %q", tp, c.Hostname())
		}
	}
	if tc := st.contacts[tpTCP]; !strings.Contains(tc.Address.String(), "transport=tcp") {
		t.Errorf("TCP contact %s has no transport", tc.Address.String())
	}
	rtp, err := h.ua.ports.acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer h.ua.ports.release(rtp)
	sdp, _, err := h.ua.localSDP(nil, newMediaState(rtp), false)
	if err != nil || !strings.Contains(string(sdp), "c=IN IP4 203.0.113.5\r\n") {
		t.Errorf("SDP %q, %v", sdp, err)
	}
}

// TestServeStopsWithContext: Serve returns once its context ends, after
// shutting down; a second Serve is refused.
func TestServeStopsWithContext(t *testing.T) {
	t.Parallel()
	ua, err := New(Config{Addr: "127.0.0.1:0", Transports: []string{"udp"}}, newRecorder(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- ua.Serve(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("not ready")
	}
	if !ua.LocalAddr().IsValid() {
		t.Error("no local address once ready")
	}
	if err := ua.Serve(context.Background(), nil); err == nil {
		t.Error("second Serve accepted")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if err := ua.Dial(context.Background(), core.OutboundDial{CallID: "x", To: "sip:1@127.0.0.1:9"}); !core.HasCode(err, core.CodeUnavailable) {
		t.Errorf("Dial after stop = %v", err)
	}
}
