package webhooks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/voicedock/voicedock/core"
)

// Limits of an assistant-request exchange.
const (
	// AssistantRequestTimeout is how long a caller may wait in ringing
	// for the reply before the defaults apply, as VoiceDock documents.
	AssistantRequestTimeout = 5 * time.Second
	maxReplyBytes           = 64 << 10
)

// RequestAssistant sends an assistant-request event and returns the
// reply body. Unlike the other events it is not queued: the caller is
// ringing and the reply decides the call. It is signed like a delivery
// (the assistant's secret, or the deployment's when assistantID is empty)
// and bounded by AssistantRequestTimeout.
func (d *Dispatcher) RequestAssistant(ctx context.Context, url, assistantID string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, AssistantRequestTimeout)
	defer cancel()
	if !validURL(url) {
		return nil, fmt.Errorf("assistant-request: %s is not an http(s) URL", redact(url))
	}
	secret, fail := d.secret(ctx, assistantID)
	if fail != nil {
		return nil, fmt.Errorf("assistant-request: %s", fail.reason)
	}
	id, err := core.NewID()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("assistant-request: %w", err)
	}
	ts := d.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.cfg.UserAgent)
	req.Header.Set("X-Webhook-Event", core.WebhookAssistantRequest)
	req.Header.Set("X-Webhook-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Webhook-Id", id)
	if secret != "" {
		req.Header.Set("X-Webhook-Signature", Sign(secret, ts, body))
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("assistant-request to %s: %s", redact(url), requestError(err, AssistantRequestTimeout))
	}
	defer resp.Body.Close()
	if !success(resp.StatusCode) {
		return nil, fmt.Errorf("assistant-request to %s: %s", redact(url), statusError(resp.StatusCode))
	}
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("assistant-request reply: %w", err)
	}
	if len(reply) > maxReplyBytes {
		return nil, fmt.Errorf("assistant-request reply is larger than %d bytes", maxReplyBytes)
	}
	return reply, nil
}
