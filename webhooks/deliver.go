package webhooks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/voicedock/voicedock/core"
)

// maxDrain is how much of a response body is read (and dropped), so that
// the connection can be reused; the rest is not read.
const maxDrain = 4 << 10

// result is what one attempt came to.
type result struct {
	// status is the response's HTTP status, 0 when there was none.
	status int
	// retryAfter is the response's Retry-After, when hasRetryAfter.
	retryAfter    time.Duration
	hasRetryAfter bool
	// reason says what went wrong, for LastError; "" after a 2xx.
	reason string
	// final is set when no retry can help (a bad URL, no secret).
	final bool
}

// deliver makes one attempt at del and records its outcome. When ctx
// ends (Run is stopping) before a response arrived, the attempt does not
// count: del is put back as it was, due, with no attempt recorded.
func (d *Dispatcher) deliver(ctx context.Context, del core.WebhookDelivery) {
	r := d.attempt(ctx, del)
	// The outcome is recorded even when Run is stopping.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWriteTimeout)
	defer cancel()
	log := d.logger.With("delivery_id", del.ID, "call_id", del.CallID, "event", del.EventType, "url", redact(del.URL))

	if ctx.Err() != nil && r.status == 0 {
		del.UpdatedAt = d.now()
		if err := d.record(wctx, del); err != nil {
			log.ErrorContext(wctx, "webhook delivery not released; it is sent when its claim runs out", "err", err)
		}
		return
	}
	out := d.settle(del, r, d.now())
	if err := d.record(wctx, out); err != nil {
		log.ErrorContext(wctx, "webhook outcome not recorded; the delivery is sent again when its claim runs out",
			"status", r.status, "err", err)
		return
	}
	if d.cfg.OnAttempt != nil {
		d.cfg.OnAttempt(out.Status)
	}
	switch out.Status {
	case core.DeliveryDelivered:
		log.DebugContext(ctx, "webhook delivered", "status", r.status, "attempts", out.Attempts)
	case core.DeliveryDead:
		log.ErrorContext(ctx, "webhook delivery given up", "status", r.status, "reason", r.reason,
			"attempts", out.Attempts)
	default:
		log.WarnContext(ctx, "webhook delivery failed; retrying", "status", r.status, "reason", r.reason,
			"attempts", out.Attempts, "next_attempt_at", out.NextAttemptAt)
	}
}

// record stores del's new state, trying a few times: a store that is
// briefly busy should not cost a resend when the claim runs out.
func (d *Dispatcher) record(ctx context.Context, del core.WebhookDelivery) error {
	wait := recordRetry
	for try := 1; ; try++ {
		err := d.safely("record delivery "+del.ID, func() error { return d.store.UpdateDelivery(ctx, del) })
		if err == nil || try == recordTries || core.HasCode(err, core.CodeNotFound) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// attempt sends del once, within the attempt timeout.
func (d *Dispatcher) attempt(ctx context.Context, del core.WebhookDelivery) result {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	if !validURL(del.URL) {
		return result{reason: "the URL is not an absolute http or https URL", final: true}
	}
	secret, fail := d.secret(ctx, del.AssistantID)
	if fail != nil {
		return *fail
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, del.URL, bytes.NewReader(del.Body))
	if err != nil {
		return result{reason: "cannot build the request", final: true}
	}
	ts := d.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.cfg.UserAgent)
	req.Header.Set("X-Webhook-Event", del.EventType)
	req.Header.Set("X-Webhook-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-Webhook-Id", del.ID)
	if secret != "" {
		req.Header.Set("X-Webhook-Signature", Sign(secret, ts, del.Body))
	}
	resp, err := d.client.Do(req)
	if r, refused := refusedAddress(err); refused {
		return r
	}
	if err != nil {
		return result{reason: requestError(err, d.cfg.Timeout)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	r := result{status: resp.StatusCode}
	if !success(r.status) {
		r.reason = statusError(r.status)
	}
	r.retryAfter, r.hasRetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), d.now())
	return r
}

// secret returns the secret to sign a delivery of the assistant with, or
// the result of an attempt that cannot be made.
func (d *Dispatcher) secret(ctx context.Context, assistantID string) (string, *result) {
	if assistantID == "" {
		return d.cfg.DefaultSecret, nil
	}
	if d.secrets == nil {
		return "", &result{reason: "no secret source to sign the assistant's deliveries with"}
	}
	var secret string
	err := d.safely("look up the signing secret", func() (err error) {
		secret, err = d.secrets(ctx, assistantID)
		return err
	})
	if core.HasCode(err, core.CodeNotFound) {
		return "", &result{reason: fmt.Sprintf("assistant %s not found: no secret to sign with", assistantID), final: true}
	}
	if err != nil {
		return "", &result{reason: bound(err.Error())}
	}
	return secret, nil
}

// validURL reports whether raw is an absolute http or https URL.
func validURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// redact returns the URL without its user info, query and fragment,
// which may hold credentials, for the log.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}
