package webhooks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
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

// outcome is how an attempt ended, waiting to be recorded.
type outcome struct {
	// del is the delivery as it is to be stored.
	del core.WebhookDelivery
	r   result
	// released is set when the attempt was stopped with Run before a
	// response came: del goes back as it was, due, with no attempt
	// counted.
	released bool
	// ended is when the attempt ended.
	ended time.Time
}

// deliver makes one attempt at del and queues its outcome for Run to
// record (recordOutcomes). When ctx ends (Run is stopping) before a
// response arrived, the attempt does not count: del is put back as it
// was, due, with no attempt recorded.
func (d *Dispatcher) deliver(ctx context.Context, del core.WebhookDelivery) {
	r := d.attempt(ctx, del)
	o := outcome{r: r, ended: time.Now()}
	if ctx.Err() != nil && r.status == 0 {
		del.UpdatedAt = d.now()
		o.del, o.released = del, true
	} else {
		o.del = d.settle(del, r, d.now())
	}
	d.mu.Lock()
	d.outcomes = append(d.outcomes, o)
	d.mu.Unlock()
}

// takeOutcomes takes the outcomes queued since the last call.
func (d *Dispatcher) takeOutcomes() []outcome {
	d.mu.Lock()
	defer d.mu.Unlock()
	batch := d.outcomes
	d.outcomes = nil
	return batch
}

// outcomeDeliveries are the deliveries as batch's outcomes store them.
func outcomeDeliveries(batch []outcome) []core.WebhookDelivery {
	if len(batch) == 0 {
		return nil
	}
	dels := make([]core.WebhookDelivery, len(batch))
	for i, o := range batch {
		dels[i] = o.del
	}
	return dels
}

// recordOutcomes stores batch's outcomes in one write, with retries, and
// frees their slots: a round's write that failed, and Run's end. They
// are recorded even when Run is stopping; those the store does not take
// are logged, and their deliveries are sent again when their claims run
// out.
func (d *Dispatcher) recordOutcomes(ctx context.Context, batch []outcome) {
	if len(batch) == 0 {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWriteTimeout)
	defer cancel()
	d.finishOutcomes(ctx, batch, d.record(wctx, outcomeDeliveries(batch)))
}

// finishOutcomes frees the slots of batch's deliveries and logs their
// outcomes; err is the write's that recorded them.
func (d *Dispatcher) finishOutcomes(ctx context.Context, batch []outcome, err error) {
	d.mu.Lock()
	for _, o := range batch {
		delete(d.inFlight, o.del.ID)
	}
	d.mu.Unlock()
	for _, o := range batch {
		d.logOutcome(ctx, o, err)
	}
}

// logOutcome logs an outcome, and tells OnAttempt of it once recorded
// (err is the write's).
func (d *Dispatcher) logOutcome(ctx context.Context, o outcome, err error) {
	out, r := o.del, o.r
	attrs := func(more ...any) []any {
		return append([]any{"delivery_id", out.ID, "call_id", out.CallID, "event", out.EventType,
			"url", redact(out.URL)}, more...)
	}
	switch {
	case o.released && err != nil:
		d.logger.ErrorContext(ctx, "webhook delivery not released; it is sent when its claim runs out",
			attrs("err", err)...)
		return
	case o.released:
		return
	case err != nil:
		d.logger.ErrorContext(ctx, "webhook outcome not recorded; the delivery is sent again when its claim runs out",
			attrs("status", r.status, "err", err)...)
		return
	}
	if d.cfg.OnAttempt != nil {
		d.cfg.OnAttempt(out.Status)
	}
	switch out.Status {
	case core.DeliveryDelivered:
		// Checked first: the attributes cost more than the rest of a
		// delivery's logging.
		if d.logger.Enabled(ctx, slog.LevelDebug) {
			d.logger.DebugContext(ctx, "webhook delivered", attrs("status", r.status, "attempts", out.Attempts)...)
		}
	case core.DeliveryDead:
		d.logger.ErrorContext(ctx, "webhook delivery given up", attrs("status", r.status, "reason", r.reason,
			"attempts", out.Attempts)...)
	default:
		d.logger.WarnContext(ctx, "webhook delivery failed; retrying", attrs("status", r.status, "reason", r.reason,
			"attempts", out.Attempts, "next_attempt_at", out.NextAttemptAt)...)
	}
}

// record stores the deliveries' new states, trying a few times: a store
// that is briefly busy should not cost a resend when the claims run out.
func (d *Dispatcher) record(ctx context.Context, dels []core.WebhookDelivery) error {
	wait := recordRetry
	for try := 1; ; try++ {
		err := d.safely(fmt.Sprintf("record %d webhook outcomes", len(dels)), func() error {
			return d.store.UpdateDeliveries(ctx, dels)
		})
		if err == nil || try == recordTries || core.HasCode(err, core.CodeInvalidRequest) {
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
	// The keys as http.CanonicalHeaderKey writes them.
	req.Header = http.Header{
		"Content-Type":        {"application/json"},
		"User-Agent":          {d.cfg.UserAgent},
		"X-Webhook-Event":     {del.EventType},
		"X-Webhook-Timestamp": {strconv.FormatInt(ts, 10)},
		"X-Webhook-Id":        {del.ID},
	}
	if secret != "" {
		req.Header["X-Webhook-Signature"] = []string{Sign(secret, ts, del.Body)}
	}
	resp, err := d.transport.RoundTrip(req)
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
