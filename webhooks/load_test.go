package webhooks

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// hangingReceiver never answers: its handler blocks until the client
// gives up or the test ends.
func hangingReceiver(t *testing.T) *receiver {
	t.Helper()
	release := make(chan struct{})
	rc := newReceiver(t, func(_ http.ResponseWriter, r *http.Request, _ request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // before the server closes
	return rc
}

func TestHangingReceiverHoldsUpNobody(t *testing.T) {
	store := watch(openStore(t))
	hang, ok := hangingReceiver(t), newReceiver(t, nil)
	stuck := event(t, newID(t), hang.URL(), "")
	fine := event(t, newID(t), ok.URL(), "")
	write(t, store.Store, stuck, fine)
	cfg := fast()
	cfg.Concurrency, cfg.Timeout = 2, 30*time.Second // the hanging attempt outlasts the test
	r := start(t, store, nil, cfg)

	hang.arrival(t)
	// Notify, called by whoever commits deliveries, returns at once
	// while the dispatcher is busy.
	began := time.Now()
	for range 10000 {
		r.Notify()
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("10000 Notify calls took %v", took)
	}
	if got := store.waitStatus(t, fine.ID, core.DeliveryDelivered); got.Attempts != 1 {
		t.Errorf("delivered %+v", got)
	}
	if got, err := store.GetDelivery(context.Background(), stuck.ID); err != nil || got.Attempts != 0 {
		t.Errorf("the hanging attempt has ended (%v): %+v", err, got)
	}
}

// With every slot taken by a receiver that never answers, the others
// wait no longer than the attempt timeout.
func TestHangingReceiverHoldsUpOthersAtMostTheTimeout(t *testing.T) {
	store := watch(openStore(t))
	hang, ok := hangingReceiver(t), newReceiver(t, nil)
	stuck := event(t, newID(t), hang.URL(), "")
	fine := event(t, newID(t), ok.URL(), "")
	write(t, store.Store, stuck, fine)
	cfg := fast()
	cfg.Concurrency, cfg.Timeout, cfg.BackoffBase, cfg.BackoffMax = 1, 300*time.Millisecond, time.Second, time.Second
	began := time.Now()
	start(t, store, nil, cfg)

	req := ok.next(t)
	if waited := req.At.Sub(began); waited > cfg.Timeout+2*time.Second {
		t.Errorf("the other receiver waited %v, timeout %v", waited, cfg.Timeout)
	}
	got := store.waitFor(t, stuck.ID, "attempted", func(d core.WebhookDelivery) bool { return d.Attempts >= 1 })
	if got.Status != core.DeliveryPending || got.LastStatus != 0 || got.LastError != "no response within 300ms" {
		t.Errorf("after the timeout: %+v", got)
	}
}

func TestConcurrencyBound(t *testing.T) {
	store := watch(openStore(t))
	const bound = 3
	rc := newReceiver(t, func(_ http.ResponseWriter, _ *http.Request, _ request) {
		time.Sleep(100 * time.Millisecond) // the receiver's work, so that requests overlap
	})
	var ds []core.WebhookDelivery
	for i := range 12 {
		call := newID(t)
		if i%3 == 0 {
			call = ""
		}
		ds = append(ds, event(t, call, rc.URL(), ""))
	}
	write(t, store.Store, ds...)
	cfg := fast()
	cfg.Concurrency = bound
	start(t, store, nil, cfg)
	for _, d := range ds {
		store.waitStatus(t, d.ID, core.DeliveryDelivered)
	}
	most := 0
	for _, req := range rc.requests() {
		most = max(most, req.InFlight)
	}
	if most != bound {
		t.Errorf("at most %d requests in flight at once, want %d", most, bound)
	}
}

// faulty is a store whose calls fail, or panic, now and then.
type faulty struct {
	*watched
	mu    sync.Mutex
	calls map[string]int
}

// fault reports whether the nth call of op fails, and how.
func (f *faulty) fault(op string) error {
	f.mu.Lock()
	f.calls[op]++
	n := f.calls[op]
	f.mu.Unlock()
	switch {
	case op == "round" && n == 1, op == "update" && n == 1, op == "next" && n == 2, op == "round" && n == 3:
		panic("store bug in " + op)
	case op == "round" && n == 2, op == "next" && n == 1, op == "update" && n == 2, op == "round" && n == 4:
		return errors.New("disk I/O error")
	}
	return nil
}

func (f *faulty) RecordAndClaim(ctx context.Context, r core.DeliveryRound) ([]core.WebhookDelivery, error) {
	if err := f.fault("round"); err != nil {
		return nil, err
	}
	return f.watched.RecordAndClaim(ctx, r)
}

func (f *faulty) NextDueAt(ctx context.Context) (time.Time, bool, error) {
	if err := f.fault("next"); err != nil {
		return time.Time{}, false, err
	}
	return f.watched.NextDueAt(ctx)
}

func (f *faulty) UpdateDeliveries(ctx context.Context, ds []core.WebhookDelivery) error {
	if err := f.fault("update"); err != nil {
		return err
	}
	return f.watched.UpdateDeliveries(ctx, ds)
}

func TestStoreFailuresDoNotStopRun(t *testing.T) {
	w := watch(openStore(t))
	store := &faulty{watched: w, calls: map[string]int{}}
	rc := newReceiver(t, nil)
	ds := []core.WebhookDelivery{event(t, newID(t), rc.URL(), ""), event(t, "", rc.URL(), "")}
	write(t, w.Store, ds...)
	cfg := fast()
	cfg.BackoffBase = time.Millisecond
	r := start(t, store, nil, cfg)
	for _, d := range ds {
		w.waitStatus(t, d.ID, core.DeliveryDelivered)
	}
	// Later deliveries still go: Run is alive.
	later := event(t, "", rc.URL(), "")
	write(t, w.Store, later)
	r.Notify()
	w.waitStatus(t, later.ID, core.DeliveryDelivered)
	r.stop()
	store.mu.Lock()
	defer store.mu.Unlock()
	if store.calls["round"] < 5 || store.calls["next"] < 2 {
		t.Errorf("the faults were not all hit: %v", store.calls)
	}
}

func TestRunOnlyOnce(t *testing.T) {
	d := NewDispatcher(openStore(t), nil, fast(), testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- d.Run(ctx) }()
	}
	// The one that runs returns only once ctx ends, so the first to
	// return is the one refused.
	select {
	case err := <-errs:
		if err == nil || !strings.Contains(err.Error(), "already running") {
			t.Errorf("a second Run: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("both Runs are running")
	}
	cancel()
	if err := <-errs; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// failFirstOutcome fails the first write of an attempt's outcome.
type failFirstOutcome struct {
	*watched
	failed atomic.Bool
}

func (f *failFirstOutcome) UpdateDeliveries(ctx context.Context, ds []core.WebhookDelivery) error {
	if f.failed.CompareAndSwap(false, true) {
		return errors.New("database is locked")
	}
	return f.watched.UpdateDeliveries(ctx, ds)
}

func (f *failFirstOutcome) RecordAndClaim(ctx context.Context, r core.DeliveryRound) ([]core.WebhookDelivery, error) {
	if len(r.Outcomes) > 0 && f.failed.CompareAndSwap(false, true) {
		return nil, errors.New("database is locked")
	}
	return f.watched.RecordAndClaim(ctx, r)
}

// An outcome the store fails to take at first is written again, rather
// than left to the claim's end and a second request.
func TestOutcomeWriteIsRetried(t *testing.T) {
	w := watch(openStore(t))
	rc := newReceiver(t, nil)
	d := event(t, newID(t), rc.URL(), "")
	write(t, w.Store, d)
	r := start(t, &failFirstOutcome{watched: w}, nil, fast())
	if got := w.waitStatus(t, d.ID, core.DeliveryDelivered); got.Attempts != 1 {
		t.Errorf("delivered %+v", got)
	}
	r.stop()
	if n := len(rc.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// A delivery in flight whose claim ran out is due again; the round skips
// it and still fills its free slot with the next due one.
func TestRoundSkipsInFlightWhoseClaimRanOut(t *testing.T) {
	store := watch(openStore(t))
	rc := newReceiver(t, nil)
	old, next := event(t, "", rc.URL(), ""), event(t, "", rc.URL(), "")
	// Both due already: a round within the millisecond after they were
	// made would otherwise find next not yet due.
	old.NextAttemptAt = old.NextAttemptAt.Add(-time.Second)
	next.NextAttemptAt = old.NextAttemptAt.Add(time.Millisecond)
	next.CreatedAt, next.UpdatedAt = next.NextAttemptAt, next.NextAttemptAt
	write(t, store.Store, old, next)
	cfg := fast()
	cfg.Concurrency = 2
	d := NewDispatcher(store, nil, cfg, testLogger(t))
	d.inFlight[old.ID] = time.Now().Add(-time.Second) // its attempt outlived its claim
	var wg sync.WaitGroup
	defer wg.Wait()
	if _, err := d.round(t.Context(), &wg); err != nil {
		t.Fatal(err)
	}
	if req := rc.next(t); req.ID != next.ID {
		t.Errorf("sent %s, want %s", req.ID, next.ID)
	}
	wg.Wait()
	d.recordOutcomes(t.Context(), d.takeOutcomes()) // Run's next round would
	store.waitStatus(t, next.ID, core.DeliveryDelivered)
	if got, err := store.GetDelivery(t.Context(), old.ID); err != nil || got.Attempts != 0 {
		t.Errorf("the delivery in flight was sent again (%v): %+v", err, got)
	}
}
