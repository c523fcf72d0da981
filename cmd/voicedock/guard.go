package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/voicedock/voicedock/audiodir"
	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/netguard"
	"github.com/voicedock/voicedock/oauth"
)

// guards are what keeps a tool's input from reaching the server's files
// and network: the audio folder and the clients for URLs tools set.
type guards struct {
	// audio is nil when VOICEDOCK_AUDIO_DIR is unset: no local paths.
	audio *audiodir.Dir
	// fetch fetches message_audio_url; webhooks delivers the webhooks.
	fetch    *http.Client
	webhooks *http.Client
	// webhookPolicy refuses, when an assistant is saved, a webhook URL
	// whose host is an address the deliveries could not reach.
	webhookPolicy netguard.Policy
	// oauth checks OAuth access tokens on HTTP; nil when
	// VOICEDOCK_OAUTH_ISSUER is unset (API keys only).
	oauth *oauth.Verifier
}

// guards builds the guards of c; ctx ends the refresh of the OAuth
// issuer's keys. Close releases the audio folder.
func (c config) guards(ctx context.Context, logger *slog.Logger) (*guards, error) {
	g := &guards{}
	fetchAllowed, err := netguard.ParseCIDRs("VOICEDOCK_FETCH_ALLOWED_CIDRS", c.FetchAllowedCIDRs)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	hookAllowed, err := netguard.ParseCIDRs("VOICEDOCK_WEBHOOK_ALLOWED_CIDRS", c.WebhookAllowedCIDRs)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	g.fetch = netguard.NewClient(netguard.Config{
		Policy:    netguard.Policy{AllowPrivate: c.FetchAllowPrivate, Allowed: fetchAllowed},
		HTTPSOnly: true,
		Timeout:   15 * time.Second,
	})
	// VOICEDOCK_WEBHOOK_URL is the operator's, not a tool's: it may be
	// anywhere, as before (that host and port only).
	var trusted []string
	if u, err := url.Parse(c.WebhookURL); err == nil && c.WebhookURL != "" {
		trusted = append(trusted, netguard.HostPort(u))
	}
	// The dispatcher bounds each attempt itself (VOICEDOCK_WEBHOOK_TIMEOUT).
	g.webhookPolicy = netguard.Policy{Allowed: hookAllowed}
	hookTimeout := max(c.WebhookTimeout, time.Second)
	g.webhooks = netguard.NewClient(netguard.Config{
		Policy:        netguard.Policy{Allowed: hookAllowed, Trusted: trusted},
		MaxRedirects:  -1,
		HeaderTimeout: hookTimeout,
		Timeout:       hookTimeout,
	})
	// As the dispatcher's own transport would (webhooks.Config): one idle
	// connection per delivery that may be in flight to a receiver, so
	// that each is reused rather than opened and closed per delivery.
	if t, ok := g.webhooks.Transport.(*http.Transport); ok {
		t.MaxIdleConnsPerHost = max(c.WebhookConcurrency, 1)
		t.MaxIdleConns = max(t.MaxIdleConns, 4*c.WebhookConcurrency)
	}
	if c.OAuthIssuer != "" || c.OAuthJWKSURL != "" || c.OAuthResource != "" {
		g.oauth, err = oauth.New(ctx, oauth.Config{Issuer: c.OAuthIssuer, JWKSURL: c.OAuthJWKSURL, Resource: c.OAuthResource}, logger)
		if err != nil {
			return nil, fmt.Errorf("configuration: VOICEDOCK_OAUTH_*: %w", err)
		}
	}
	if c.AudioDir != "" {
		g.audio, err = audiodir.Open(c.AudioDir)
		if err != nil {
			return nil, fmt.Errorf("configuration: VOICEDOCK_AUDIO_DIR: %w", err)
		}
	}
	return g, nil
}

// audioFiles is the audio folder for core, nil (not a nil *Dir) when
// there is none.
func (g *guards) audioFiles() core.AudioFiles {
	if g.audio == nil {
		return nil
	}
	return g.audio
}

// webhookGuard is core's early check of webhook URLs set by tools.
func (g *guards) webhookGuard(_ context.Context, rawURL string) error {
	if err := g.webhookPolicy.CheckLiteral(rawURL); err != nil {
		return fmt.Errorf("%w; VOICEDOCK_WEBHOOK_ALLOWED_CIDRS opens it", err)
	}
	return nil
}

// Close releases the audio folder.
func (g *guards) Close() error {
	if g.audio == nil {
		return nil
	}
	return g.audio.Close()
}
