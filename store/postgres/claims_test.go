package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/postgres"
	"github.com/voicedock/voicedock/store/storetest"
	"github.com/voicedock/voicedock/webhooks"
)

const hook = "https://hooks.example.com/voicedock"

// twoNodes opens two stores on one database, as two nodes do.
func twoNodes(t *testing.T) (*postgres.Store, *postgres.Store) {
	t.Helper()
	url := cluster.NewSchema(t)
	key := storetest.NewKey(t)
	return open(t, url, key), open(t, url, key)
}

// TestClaimGoesToOneNode: two nodes that read the same due deliveries
// and claim them at the same moment split them, none claimed by both; a
// later delivery of a call is not claimed while its earlier one is; a
// claim that ran out is taken by the other node.
func TestClaimGoesToOneNode(t *testing.T) {
	a, b := twoNodes(t)
	ctx := t.Context()
	t0 := storetest.Now().Add(-time.Second)
	var all []core.WebhookDelivery
	for range 60 {
		all = append(all, storetest.DeliveryFixture(t, "", hook, t0))
	}
	storetest.AddDeliveries(t, a, all...)
	ids := func(ds []core.WebhookDelivery) []string {
		out := []string{}
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	now := storetest.Now()
	dueA, dueB := storetest.DueIDs(t, a, now, 100), storetest.DueIDs(t, b, now, 100)
	if len(dueA) != 60 || !slices.Equal(dueA, dueB) {
		t.Fatalf("due on A %d, on B %d, want the same 60", len(dueA), len(dueB))
	}
	until := now.Add(time.Minute)
	var wg sync.WaitGroup
	var claimedA, claimedB []string
	var errA, errB error
	// Each claims in pieces, the pieces in opposite orders, so that the
	// two contend row by row.
	wg.Go(func() {
		for i := 0; i < 60; i += 10 {
			got, err := a.ClaimDeliveries(ctx, dueA[i:i+10], until, now)
			claimedA, errA = append(claimedA, got...), err
		}
	})
	wg.Go(func() {
		for i := 50; i >= 0; i -= 10 {
			got, err := b.ClaimDeliveries(ctx, dueB[i:i+10], until, now)
			claimedB, errB = append(claimedB, got...), err
		}
	})
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	both := append(append([]string{}, claimedA...), claimedB...)
	slices.Sort(both)
	want := ids(all)
	slices.Sort(want)
	if !slices.Equal(both, want) {
		t.Fatalf("A claimed %d, B %d: together %d, not each of the 60 once", len(claimedA), len(claimedB), len(both))
	}
	if got := storetest.DueIDs(t, b, now, 100); len(got) != 0 {
		t.Errorf("%d due while claimed", len(got))
	}

	// A died holding its claims: when they run out, B takes them.
	later := until.Add(time.Millisecond)
	due := storetest.DueIDs(t, b, later, 100)
	got, err := b.ClaimDeliveries(ctx, due, later.Add(time.Minute), later)
	if err != nil || len(got) != 60 {
		t.Fatalf("B claimed %d of the 60 whose claims ran out (%v)", len(got), err)
	}

	// A call's second delivery waits while its first is claimed, whoever
	// asks.
	call := storetest.NewID(t)
	first, second := storetest.DeliveryFixture(t, call, hook, t0), storetest.DeliveryFixture(t, call, hook, t0)
	storetest.AddDeliveries(t, a, first, second)
	if got, err := a.ClaimDeliveries(ctx, []string{first.ID}, until, now); err != nil || len(got) != 1 {
		t.Fatalf("claim the first: %v %v", got, err)
	}
	if got, err := b.ClaimDeliveries(ctx, []string{second.ID}, until, now); err != nil || len(got) != 0 {
		t.Fatalf("the second was claimed while the first is in flight: %v %v", got, err)
	}
}

// receiver is a webhook endpoint that records what it gets.
type receiver struct {
	mu    sync.Mutex
	byID  map[string]int      // X-Webhook-Id: times received
	calls map[string][]string // call id: the events' sequence numbers, in arrival order
	got   chan struct{}       // a delivery arrived
}

func newReceiver(t *testing.T) (*receiver, string) {
	r := &receiver{byID: map[string]int{}, calls: map[string][]string{}, got: make(chan struct{}, 1024)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var msg struct {
			Call string `json:"call"`
			Seq  string `json:"seq"`
		}
		_ = json.Unmarshal(body, &msg)
		r.mu.Lock()
		r.byID[req.Header.Get("X-Webhook-Id")]++
		if msg.Call != "" {
			r.calls[msg.Call] = append(r.calls[msg.Call], msg.Seq)
		}
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		r.got <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL
}

// await waits until n deliveries have arrived in all.
func (r *receiver) await(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		r.mu.Lock()
		total := 0
		for _, c := range r.byID {
			total += c
		}
		r.mu.Unlock()
		if total >= n {
			return
		}
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("%d of %d deliveries arrived in %v", total, n, waitLimit)
		}
	}
}

// dispatch runs a dispatcher on the store until the test ends; recorded,
// when set, receives the outcome of each attempt once it is stored.
func dispatch(t *testing.T, s *postgres.Store, recorded chan<- string) *webhooks.Dispatcher {
	cfg := webhooks.Config{Concurrency: 8, Timeout: 5 * time.Second}
	if recorded != nil {
		cfg.OnAttempt = func(status string) { recorded <- status }
	}
	d := webhooks.NewDispatcher(s, nil, cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return d
}

// sequenced is the n-th event of the call, to url.
func sequenced(t *testing.T, call, url string, n int) core.WebhookDelivery {
	d := storetest.DeliveryFixture(t, call, url, storetest.Now())
	d.AssistantID = ""
	d.Body = json.RawMessage(fmt.Sprintf(`{"call": %q, "seq": "%03d"}`, call, n))
	return d
}

// TestTwoDispatchersDeliverEachEventOnce: the dispatchers of two nodes
// work one outbox; every event arrives once, each call's in order.
func TestTwoDispatchersDeliverEachEventOnce(t *testing.T) {
	a, b := twoNodes(t)
	r, url := newReceiver(t)
	const calls, events = 12, 8
	recorded := make(chan string, 2*calls*events)
	da, db := dispatch(t, a, recorded), dispatch(t, b, recorded)
	var want []string
	for e := range events {
		for c := range calls {
			call := fmt.Sprintf("call-%02d", c)
			d := sequenced(t, call, url, e)
			storetest.AddDeliveries(t, []*postgres.Store{a, b}[c%2], d)
			want = append(want, d.ID)
		}
		da.Notify()
		db.Notify()
	}
	r.await(t, calls*events)
	for range calls * events {
		select {
		case status := <-recorded:
			if status != core.DeliveryDelivered {
				t.Fatalf("an attempt recorded as %s", status)
			}
		case <-time.After(waitLimit):
			t.Fatal("not every outcome was recorded")
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range want {
		if n := r.byID[id]; n != 1 {
			t.Errorf("delivery %s arrived %d times", id, n)
		}
	}
	for call, seqs := range r.calls {
		if !slices.IsSorted(seqs) || len(seqs) != events {
			t.Errorf("%s: events arrived as %v", call, seqs)
		}
	}
	for _, s := range []*postgres.Store{a, b} {
		if _, n, err := s.ListDeliveries(t.Context(), core.DeliveryFilter{Status: core.DeliveryPending}); err != nil || n != 0 {
			t.Errorf("%d still pending (%v)", n, err)
		}
	}
}

// TestDeadNodesClaimIsSentByAnother: node A claimed a delivery and died
// before sending it; once the claim runs out, B's dispatcher sends it,
// with its X-Webhook-Id, and it is delivered.
func TestDeadNodesClaimIsSentByAnother(t *testing.T) {
	a, b := twoNodes(t)
	r, url := newReceiver(t)
	d := sequenced(t, "call-1", url, 1)
	storetest.AddDeliveries(t, a, d)
	now := storetest.Now()
	claimedUntil := now.Add(300 * time.Millisecond)
	if got, err := a.ClaimDeliveries(t.Context(), []string{d.ID}, claimedUntil, now); err != nil || len(got) != 1 {
		t.Fatalf("A's claim: %v %v", got, err)
	}
	a.Close() // A is gone, its claim left behind
	recorded := make(chan string, 1)
	dispatch(t, b, recorded)
	r.await(t, 1)
	if time.Now().Before(claimedUntil) {
		t.Error("sent before A's claim ran out")
	}
	r.mu.Lock()
	n := r.byID[d.ID]
	r.mu.Unlock()
	if n != 1 {
		t.Errorf("delivery %s arrived %d times", d.ID, n)
	}
	select {
	case status := <-recorded:
		if status != core.DeliveryDelivered {
			t.Fatalf("the attempt was recorded as %s", status)
		}
	case <-time.After(waitLimit):
		t.Fatal("the attempt's outcome was not recorded")
	}
	if got := storetest.GetDelivery(t, b, d.ID); got.Status != core.DeliveryDelivered || got.Attempts != 1 {
		t.Errorf("stored as %s after %d attempts", got.Status, got.Attempts)
	}
}
