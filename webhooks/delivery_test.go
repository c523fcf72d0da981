package webhooks

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

func TestSignedDeliveryHeadersAndBody(t *testing.T) {
	store := watch(openStore(t))
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ request) { w.WriteHeader(http.StatusNoContent) })
	secrets := map[string]string{"asst-signed": "assistant secret ✓", "asst-unsigned": ""}
	deployment := event(t, newID(t), rc.URL(), "")
	assistant := event(t, newID(t), rc.URL(), "asst-signed")
	unsigned := event(t, "", rc.URL(), "asst-unsigned")
	unsigned.EventType = core.WebhookEndOfCallReport
	write(t, store.Store, deployment, assistant, unsigned)

	before := time.Now().Unix()
	cfg := fast()
	cfg.DefaultSecret, cfg.UserAgent = "deployment secret", "voicedock-test/1.0"
	start(t, store, secretsOf(secrets), cfg)

	want := map[string]struct {
		d      core.WebhookDelivery
		secret string
	}{
		deployment.ID: {deployment, cfg.DefaultSecret},
		assistant.ID:  {assistant, secrets["asst-signed"]},
		unsigned.ID:   {unsigned, ""},
	}
	for range want {
		req := rc.next(t)
		w, ok := want[req.ID]
		if !ok {
			t.Fatalf("X-Webhook-Id %q is none of the deliveries", req.ID)
		}
		delete(want, req.ID)
		if req.Method != http.MethodPost || req.Path != "/hook" {
			t.Errorf("%s %s", req.Method, req.Path)
		}
		if req.ContentType != "application/json" || req.UserAgent != cfg.UserAgent || req.Event != w.d.EventType {
			t.Errorf("Content-Type %q, User-Agent %q, X-Webhook-Event %q", req.ContentType, req.UserAgent, req.Event)
		}
		if !bytes.Equal(req.Body, w.d.Body) {
			t.Errorf("body\n%s\nwant byte for byte\n%s", req.Body, w.d.Body)
		}
		ts := unixTime(t, req.Timestamp)
		if ts < before || ts > time.Now().Unix() {
			t.Errorf("X-Webhook-Timestamp %d not between %d and now", ts, before)
		}
		if w.secret == "" {
			if req.Signature != "" {
				t.Errorf("unsigned delivery has X-Webhook-Signature %q", req.Signature)
			}
			continue
		}
		if sig := signature(w.secret, req.Timestamp, req.Body); req.Signature != sig {
			t.Errorf("X-Webhook-Signature %q, want %q", req.Signature, sig)
		}
		if !Verify(w.secret, req.Signature, ts, req.Body) {
			t.Error("Verify refuses the signature sent")
		}
		if Verify("another secret", req.Signature, ts, req.Body) || Verify(w.secret, req.Signature, ts+1, req.Body) {
			t.Error("Verify accepts the signature with another secret or timestamp")
		}
	}
	for _, d := range []core.WebhookDelivery{deployment, assistant, unsigned} {
		got := store.waitStatus(t, d.ID, core.DeliveryDelivered)
		if got.Attempts != 1 || got.LastStatus != http.StatusNoContent || got.LastError != "" || got.DeliveredAt == nil {
			t.Errorf("delivered %+v", got)
		}
	}
}

func TestRetriedUntilDeliveredWithTheSameID(t *testing.T) {
	store := watch(openStore(t))
	var n atomic.Int32
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ request) {
		if n.Add(1) <= 3 {
			http.Error(w, "try later", http.StatusInternalServerError)
		}
	})
	d := event(t, newID(t), rc.URL(), "")
	write(t, store.Store, d)
	cfg := fast()
	cfg.DefaultSecret = "s"
	r := start(t, store, nil, cfg)

	got := store.waitStatus(t, d.ID, core.DeliveryDelivered)
	r.stop() // no request can follow
	if got.Attempts != 4 || got.LastStatus != http.StatusOK || got.LastError != "" || got.DeliveredAt == nil {
		t.Errorf("delivered %+v", got)
	}
	reqs := rc.requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	for i, req := range reqs {
		if req.ID != d.ID {
			t.Errorf("request %d: X-Webhook-Id %q, want %q", i, req.ID, d.ID)
		}
		if !Verify("s", req.Signature, unixTime(t, req.Timestamp), req.Body) || !bytes.Equal(req.Body, d.Body) {
			t.Errorf("request %d: signature or body wrong", i)
		}
	}
	// Each failed attempt was recorded as it happened.
	outcomes := store.outcomes(d.ID)
	if len(outcomes) != 4 {
		t.Fatalf("%d outcomes recorded: %+v", len(outcomes), outcomes)
	}
	for i, o := range outcomes[:3] {
		if o.Status != core.DeliveryPending || o.Attempts != i+1 || o.LastStatus != 500 ||
			o.LastError != "HTTP 500 Internal Server Error" || o.NextAttemptAt.Before(o.UpdatedAt) ||
			o.NextAttemptAt.After(o.UpdatedAt.Add(cfg.BackoffMax)) {
			t.Errorf("outcome %d: %+v", i+1, o)
		}
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	store := watch(openStore(t))
	var n atomic.Int32
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	d := event(t, newID(t), rc.URL(), "")
	write(t, store.Store, d)
	cfg := fast()
	cfg.BackoffMax = 5 * time.Second
	start(t, store, nil, cfg)

	first, second := rc.next(t), rc.next(t)
	if first.Status != http.StatusTooManyRequests || second.Status != http.StatusOK {
		t.Fatalf("answers %d, %d", first.Status, second.Status)
	}
	// The store keeps milliseconds, so the retry may be due up to 1ms
	// before the second is over.
	if gap := second.At.Sub(first.At); gap < time.Second-time.Millisecond {
		t.Errorf("retried %v after a 429 with Retry-After: 1", gap)
	}
	got := store.waitStatus(t, d.ID, core.DeliveryDelivered)
	if got.Attempts != 2 {
		t.Errorf("attempts %d", got.Attempts)
	}
	o := store.outcomes(d.ID)[0]
	if o.LastStatus != 429 || o.NextAttemptAt.Sub(o.UpdatedAt) < time.Second {
		t.Errorf("after the 429: %+v", o)
	}
}

func TestClientErrorIsDeadAtOnce(t *testing.T) {
	for _, status := range []int{http.StatusGone, http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			store := watch(openStore(t))
			rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ request) { w.WriteHeader(status) })
			d := event(t, newID(t), rc.URL(), "")
			write(t, store.Store, d)
			r := start(t, store, nil, fast())
			got := store.waitStatus(t, d.ID, core.DeliveryDead)
			r.stop()
			if got.Attempts != 1 || got.LastStatus != status || got.DeliveredAt != nil ||
				!strings.HasPrefix(got.LastError, "HTTP ") {
				t.Errorf("dead %+v", got)
			}
			if n := len(rc.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	store := watch(openStore(t))
	elsewhere := newReceiver(t, nil)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ request) {
		http.Redirect(w, r, elsewhere.URL(), http.StatusTemporaryRedirect)
	})
	d := event(t, newID(t), rc.URL(), "")
	write(t, store.Store, d)
	r := start(t, store, nil, fast())
	got := store.waitStatus(t, d.ID, core.DeliveryDead)
	r.stop()
	if got.Attempts != 1 || got.LastStatus != http.StatusTemporaryRedirect || !strings.Contains(got.LastError, "redirect") {
		t.Errorf("dead %+v", got)
	}
	if n := len(elsewhere.requests()); n != 0 {
		t.Errorf("the redirect was followed: %d requests", n)
	}
}

func TestMaxAgeGivesUp(t *testing.T) {
	store := watch(openStore(t))
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	d := event(t, newID(t), rc.URL(), "")
	write(t, store.Store, d)
	cfg := fast()
	cfg.MaxAge, cfg.BackoffBase, cfg.BackoffMax = 300*time.Millisecond, 20*time.Millisecond, 60*time.Millisecond
	r := start(t, store, nil, cfg)
	got := store.waitStatus(t, d.ID, core.DeliveryDead)
	r.stop()
	reqs := rc.requests()
	if got.Attempts < 2 || got.Attempts != len(reqs) || got.LastStatus != 503 ||
		!strings.Contains(got.LastError, "given up") {
		t.Errorf("dead after %d requests: %+v", len(reqs), got)
	}
	// No attempt was scheduled past the age limit.
	for _, o := range store.outcomes(d.ID) {
		if o.Status == core.DeliveryPending && o.NextAttemptAt.After(d.CreatedAt.Add(cfg.MaxAge)) {
			t.Errorf("attempt %d scheduled at %v, past %v + %v", o.Attempts+1, o.NextAttemptAt, d.CreatedAt, cfg.MaxAge)
		}
	}
}

func TestBadURLIsDead(t *testing.T) {
	store := watch(openStore(t))
	d := event(t, newID(t), "ftp://user:password@files.example.com/hook", "")
	write(t, store.Store, d)
	start(t, store, nil, fast())
	got := store.waitStatus(t, d.ID, core.DeliveryDead)
	if got.Attempts != 1 || got.LastStatus != 0 || strings.Contains(got.LastError, "password") {
		t.Errorf("dead %+v", got)
	}
}

func TestSecretLookup(t *testing.T) {
	store := watch(openStore(t))
	rc := newReceiver(t, nil)
	var flakyCalls, panicCalls atomic.Int32
	secrets := func(_ context.Context, id string) (string, error) {
		switch {
		case id == "gone":
			return "", core.NotFound("assistant", id)
		case id == "flaky" && flakyCalls.Add(1) == 1:
			return "", errors.New("database is locked")
		case id == "panics" && panicCalls.Add(1) <= 2:
			panic("secret source bug")
		}
		return "secret of " + id, nil
	}
	gone, flaky, panics := event(t, newID(t), rc.URL(), "gone"), event(t, newID(t), rc.URL(), "flaky"),
		event(t, newID(t), rc.URL(), "panics")
	write(t, store.Store, gone, flaky, panics)
	start(t, store, secrets, fast())

	// A deleted assistant has no secret: its deliveries are never sent
	// unsigned, nor retried.
	got := store.waitStatus(t, gone.ID, core.DeliveryDead)
	if got.Attempts != 1 || !strings.Contains(got.LastError, "not found") {
		t.Errorf("dead %+v", got)
	}
	for _, d := range []core.WebhookDelivery{flaky, panics} {
		got := store.waitStatus(t, d.ID, core.DeliveryDelivered)
		if got.Attempts < 2 {
			t.Errorf("%s delivered after %d attempts", d.AssistantID, got.Attempts)
		}
		if o := store.outcomes(d.ID)[0]; o.LastStatus != 0 || o.LastError == "" {
			t.Errorf("first outcome %+v", o)
		}
	}
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want one each for flaky and panics", len(reqs))
	}
	for _, req := range reqs {
		if req.ID == gone.ID {
			t.Error("the delivery without a secret was sent")
		}
		secret := "secret of flaky"
		if req.ID == panics.ID {
			secret = "secret of panics"
		}
		if !Verify(secret, req.Signature, unixTime(t, req.Timestamp), req.Body) {
			t.Errorf("request %s not signed with %q", req.ID, secret)
		}
	}
}
