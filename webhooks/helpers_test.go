package webhooks

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
)

// waitLimit bounds every wait on the dispatcher or a receiver: a test
// that gets there has failed.
const waitLimit = 15 * time.Second

// testDB is an SQLite store file the test can close and open again.
type testDB struct {
	path string
	key  []byte
}

func newTestDB(t testing.TB) testDB {
	t.Helper()
	key := make([]byte, sqlite.KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return testDB{path: filepath.Join(t.TempDir(), "voicedock.db"), key: key}
}

// open opens the store; it is closed when the test ends unless the test
// closes it first.
func (db testDB) open(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), db.path, db.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { s.Close() }) })
	return s
}

func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	return newTestDB(t).open(t)
}

func newID(t testing.TB) string {
	t.Helper()
	id, err := core.NewID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// event returns a new delivery of an event of the call ("" for none) to
// url, signed for the assistant ("" for the deployment's secret).
func event(t testing.TB, callID, url, assistantID string) core.WebhookDelivery {
	t.Helper()
	id, at := newID(t), time.Now().UTC().Truncate(time.Millisecond)
	body := fmt.Sprintf(`{"message": {"type": "status-update", "delivery": %q, "call": {"id": %q}, "note": "caf\u00e9 ☕"}}`,
		id, callID)
	return core.WebhookDelivery{
		ID: id, CallID: callID, AssistantID: assistantID, URL: url, EventType: core.WebhookStatusUpdate,
		Body: json.RawMessage(body), Status: core.DeliveryPending, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at,
	}
}

// write stores the deliveries the way the core does: each with a change
// of its call, in its transaction (a call is created on its first event;
// a delivery without a call comes with a call of its own).
func write(t testing.TB, s *sqlite.Store, ds ...core.WebhookDelivery) {
	t.Helper()
	for _, d := range ds {
		at := time.Now().UTC().Truncate(time.Millisecond)
		c := core.Call{ID: d.CallID, Direction: core.DirectionInbound, Status: core.CallRinging, CreatedAt: at, UpdatedAt: at}
		if c.ID == "" {
			c.ID = newID(t)
		}
		err := s.CreateCall(t.Context(), c, d)
		if core.HasCode(err, core.CodeConflict) {
			err = s.UpdateCall(t.Context(), c, d)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// watched is the store with a signal after every UpdateDelivery(ies),
// RecordAndClaim and ClaimDeliveries and a record of the updates, so that tests wait on the dispatcher's progress.
type watched struct {
	*sqlite.Store
	changed chan struct{}
	mu      sync.Mutex
	updates []core.WebhookDelivery
}

func watch(s *sqlite.Store) *watched {
	return &watched{Store: s, changed: make(chan struct{}, 1)}
}

func (w *watched) UpdateDelivery(ctx context.Context, d core.WebhookDelivery) error {
	err := w.Store.UpdateDelivery(ctx, d)
	if err == nil {
		w.mu.Lock()
		w.updates = append(w.updates, d)
		w.mu.Unlock()
	}
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return err
}

func (w *watched) UpdateDeliveries(ctx context.Context, ds []core.WebhookDelivery) error {
	err := w.Store.UpdateDeliveries(ctx, ds)
	if err == nil {
		w.mu.Lock()
		w.updates = append(w.updates, ds...)
		w.mu.Unlock()
	}
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return err
}

func (w *watched) RecordAndClaim(ctx context.Context, r core.DeliveryRound) ([]core.WebhookDelivery, error) {
	claimed, err := w.Store.RecordAndClaim(ctx, r)
	if err == nil {
		w.mu.Lock()
		w.updates = append(w.updates, r.Outcomes...)
		w.mu.Unlock()
	}
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return claimed, err
}

func (w *watched) ClaimDeliveries(ctx context.Context, ids []string, until, now time.Time) ([]string, error) {
	claimed, err := w.Store.ClaimDeliveries(ctx, ids, until, now)
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return claimed, err
}

// outcomes are the recorded outcomes of attempts at the delivery (not
// the claims, which leave Attempts as it was), in order.
func (w *watched) outcomes(id string) []core.WebhookDelivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []core.WebhookDelivery
	attempts := 0
	for _, d := range w.updates {
		if d.ID == id && d.Attempts > attempts {
			out, attempts = append(out, d), d.Attempts
		}
	}
	return out
}

// waitFor waits until the stored delivery satisfies ok, and returns it.
func (w *watched) waitFor(t *testing.T, id string, what string, ok func(core.WebhookDelivery) bool) core.WebhookDelivery {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		d, err := w.GetDelivery(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(d) {
			return d
		}
		select {
		case <-w.changed:
		case <-deadline.C:
			t.Fatalf("delivery %s not %s after %v: %+v", id, what, waitLimit, d)
		}
	}
}

func (w *watched) waitStatus(t *testing.T, id, status string) core.WebhookDelivery {
	t.Helper()
	return w.waitFor(t, id, status, func(d core.WebhookDelivery) bool { return d.Status == status })
}

// running is a dispatcher running in the background.
type running struct {
	*Dispatcher
	stop func() // cancels Run and waits for it to return nil
}

func start(t *testing.T, store core.DeliveryStore, secrets SecretSource, cfg Config) running {
	t.Helper()
	d := NewDispatcher(store, secrets, cfg, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(waitLimit):
				t.Errorf("Run did not return within %v of its context's end", waitLimit)
			}
		})
	}
	t.Cleanup(stop)
	return running{Dispatcher: d, stop: stop}
}

// testLogger logs to the test's output, shown when it fails.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// request is a request as a receiver got it.
type request struct {
	Method, Path                    string
	ID, Event, Timestamp, Signature string
	ContentType, UserAgent          string
	Body                            []byte
	At                              time.Time
	Seq                             int // its place among all the receiver's requests, from 0
	Status                          int // what the receiver answered
	InFlight                        int // requests in the handler when it arrived, itself included
}

// receiver is an HTTP server in the test process that records every
// request and answers as respond says.
type receiver struct {
	srv     *httptest.Server
	arrived chan request // each request as it arrives
	got     chan request // each request once answered
	mu      sync.Mutex
	all     []request
	current int
	// respond writes the answer; nil answers 200.
	respond func(w http.ResponseWriter, r *http.Request, req request)
}

func newReceiver(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, req request)) *receiver {
	t.Helper()
	rc := &receiver{arrived: make(chan request, 1000), got: make(chan request, 1000), respond: respond}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) URL() string { return rc.srv.URL + "/hook" }

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.current++
	req := request{
		Method: r.Method, Path: r.URL.Path, ID: r.Header.Get("X-Webhook-Id"), Event: r.Header.Get("X-Webhook-Event"),
		Timestamp: r.Header.Get("X-Webhook-Timestamp"), Signature: r.Header.Get("X-Webhook-Signature"),
		ContentType: r.Header.Get("Content-Type"), UserAgent: r.Header.Get("User-Agent"),
		Body: body, At: time.Now(), Seq: len(rc.all), InFlight: rc.current,
	}
	rc.all = append(rc.all, req)
	rc.mu.Unlock()
	rc.arrived <- req
	defer func() {
		rc.mu.Lock()
		rc.current--
		rc.mu.Unlock()
	}()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	if rc.respond != nil {
		rc.respond(sw, r, req)
	}
	req.Status = sw.status
	rc.mu.Lock()
	rc.all[req.Seq].Status = req.Status
	rc.mu.Unlock()
	rc.got <- req
}

// next waits for the next answered request.
func (rc *receiver) next(t *testing.T) request {
	t.Helper()
	select {
	case req := <-rc.got:
		return req
	case <-time.After(waitLimit):
		t.Fatalf("no request at %s within %v", rc.URL(), waitLimit)
		return request{}
	}
}

// arrival waits for the next request to arrive.
func (rc *receiver) arrival(t *testing.T) request {
	t.Helper()
	select {
	case req := <-rc.arrived:
		return req
	case <-time.After(waitLimit):
		t.Fatalf("no request at %s within %v", rc.URL(), waitLimit)
		return request{}
	}
}

// requests returns every request so far, in arrival order.
func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.all...)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// signature computes X-Webhook-Signature independently of Sign, from the
// documentation: HMAC-SHA256 keyed with the secret over the timestamp
// header, a dot and the raw body; lower-case hex after "sha256=".
func signature(secret, timestamp string, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(timestamp + "." + string(body)))
	return "sha256=" + hex.EncodeToString(h.Sum(nil))
}

// unixTime parses X-Webhook-Timestamp.
func unixTime(t *testing.T, header string) int64 {
	t.Helper()
	ts, err := strconv.ParseInt(header, 10, 64)
	if err != nil {
		t.Fatalf("X-Webhook-Timestamp %q: %v", header, err)
	}
	return ts
}

// secretsOf is a SecretSource over a map; an assistant not in it is
// CodeNotFound, as the store says.
func secretsOf(m map[string]string) SecretSource {
	return func(_ context.Context, id string) (string, error) {
		s, ok := m[id]
		if !ok {
			return "", core.NotFound("assistant", id)
		}
		return s, nil
	}
}

// fast is a Config for tests: short backoff, short waits.
func fast() Config {
	return Config{BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, Timeout: 5 * time.Second}
}
