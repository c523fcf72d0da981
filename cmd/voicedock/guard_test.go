package main

import (
	"log/slog"
	"net/http"
	"testing"
	"time"
)

// TestWebhookClientKeepsPace: the guarded webhook client keeps as many
// idle connections per receiver as deliveries may be in flight (the
// dispatcher's own transport did; without it most deliveries open a new
// connection), and lets a response take the whole VOICEDOCK_WEBHOOK_TIMEOUT.
func TestWebhookClientKeepsPace(t *testing.T) {
	cfg := config{WebhookConcurrency: 48, WebhookTimeout: 25 * time.Second, WebhookAllowedCIDRs: []string{"127.0.0.0/8"}}
	g, err := cfg.guards(t.Context(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	tr, ok := g.webhooks.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("webhook transport is %T", g.webhooks.Transport)
	}
	if tr.MaxIdleConnsPerHost != 48 || tr.MaxIdleConns < 48 {
		t.Errorf("idle connections: %d per host, %d in all; want 48 per host", tr.MaxIdleConnsPerHost, tr.MaxIdleConns)
	}
	if tr.ResponseHeaderTimeout < cfg.WebhookTimeout || g.webhooks.Timeout < cfg.WebhookTimeout {
		t.Errorf("a delivery is cut before VOICEDOCK_WEBHOOK_TIMEOUT: header %v, overall %v", tr.ResponseHeaderTimeout, g.webhooks.Timeout)
	}
}
