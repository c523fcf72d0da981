package webhooks

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/voicedock/voicedock/core"
)

// firstSeq returns the place of the first request for id, and of the
// first one answered 2xx; -1 when there is none.
func firstSeq(reqs []request, id string) (first, ok int) {
	first, ok = -1, -1
	for _, r := range reqs {
		if r.ID != id {
			continue
		}
		if first < 0 {
			first = r.Seq
		}
		if ok < 0 && r.Status/100 == 2 {
			ok = r.Seq
		}
	}
	return first, ok
}

func TestCallEventsArriveInOrder(t *testing.T) {
	store := watch(openStore(t))
	callA, callB := newID(t), newID(t)
	var (
		mu         sync.Mutex
		seen       = map[string]bool{}
		a1Failures int
		a1, b1, x2 core.WebhookDelivery
	)
	// The receiver fails call A's first event until call B's event and
	// call A's events at the other receiver have arrived, and at least
	// twice: if any of those waited behind it, it would never succeed.
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, req request) {
		mu.Lock()
		defer mu.Unlock()
		seen[req.ID] = true
		if req.ID == a1.ID && (a1Failures < 2 || !seen[b1.ID] || !seen[x2.ID]) {
			a1Failures++
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	other := newReceiver(t, func(_ http.ResponseWriter, _ *http.Request, req request) {
		mu.Lock()
		defer mu.Unlock()
		seen[req.ID] = true
	})
	rcURL, otherURL := rc.URL(), other.URL()
	a1 = event(t, callA, rcURL, "")
	x1 := event(t, callA, otherURL, "") // the same event of call A, to another receiver
	b1 = event(t, callB, rcURL, "")
	a2 := event(t, callA, rcURL, "")
	x2 = event(t, callA, otherURL, "")
	a3 := event(t, callA, rcURL, "")
	b2 := event(t, callB, rcURL, "")
	solo := event(t, "", rcURL, "")
	write(t, store.Store, a1, x1, b1, a2, x2, a3, b2, solo)

	cfg := fast()
	cfg.Concurrency = 4
	r := start(t, store, nil, cfg)
	for _, d := range []core.WebhookDelivery{a1, x1, b1, a2, x2, a3, b2, solo} {
		store.waitStatus(t, d.ID, core.DeliveryDelivered)
	}
	r.stop()

	reqs := rc.requests()
	// Call A at this receiver: each event only after the one before it
	// was delivered.
	for _, pair := range [][2]core.WebhookDelivery{{a1, a2}, {a2, a3}, {b1, b2}} {
		_, okBefore := firstSeq(reqs, pair[0].ID)
		firstAfter, _ := firstSeq(reqs, pair[1].ID)
		if firstAfter < okBefore {
			t.Errorf("a later event was sent (request %d) before the earlier was delivered (request %d)", firstAfter, okBefore)
		}
	}
	// Call B's event and the other receiver's were not held up.
	_, a1OK := firstSeq(reqs, a1.ID)
	if _, b1OK := firstSeq(reqs, b1.ID); b1OK > a1OK {
		t.Errorf("call B's event delivered (request %d) after call A's retried one (request %d)", b1OK, a1OK)
	}
	if got := store.waitStatus(t, a1.ID, core.DeliveryDelivered); got.Attempts < 3 {
		t.Errorf("a1 delivered after %d attempts", got.Attempts)
	}
	var otherIDs []string
	for _, req := range other.requests() {
		otherIDs = append(otherIDs, req.ID)
	}
	if len(otherIDs) != 2 || otherIDs[0] != x1.ID || otherIDs[1] != x2.ID {
		t.Errorf("the other receiver got %v, want [%s %s]", otherIDs, x1.ID, x2.ID)
	}
}

// Deliveries written by a process that died before sending them are sent
// by the next one.
func TestDeliveriesSurviveACrash(t *testing.T) {
	db := newTestDB(t)
	rc := newReceiver(t, nil)
	callA, callB := newID(t), newID(t)
	ds := []core.WebhookDelivery{
		event(t, callA, rc.URL(), ""), event(t, callB, rc.URL(), ""), event(t, callA, rc.URL(), ""),
		event(t, "", rc.URL(), ""), event(t, callA, rc.URL(), ""),
	}
	first := db.open(t)
	write(t, first, ds...)
	if err := first.Close(); err != nil { // killed: no dispatcher ever ran
		t.Fatal(err)
	}

	store := watch(db.open(t))
	start(t, store, nil, fast())
	for _, d := range ds {
		if got := store.waitStatus(t, d.ID, core.DeliveryDelivered); got.Attempts != 1 {
			t.Errorf("delivered after %d attempts", got.Attempts)
		}
	}
	var aOrder []string
	for _, req := range rc.requests() {
		if req.ID == ds[0].ID || req.ID == ds[2].ID || req.ID == ds[4].ID {
			aOrder = append(aOrder, req.ID)
		}
	}
	if len(aOrder) != 3 || aOrder[0] != ds[0].ID || aOrder[1] != ds[2].ID || aOrder[2] != ds[4].ID {
		t.Errorf("call A's events arrived as %v", aOrder)
	}
}

// A dispatcher stopped in the middle of an attempt gives the delivery
// back; after a restart it is sent again, with the same id.
func TestStoppedMidAttemptIsSentAfterRestart(t *testing.T) {
	db := newTestDB(t)
	var answer atomic.Bool // false: hang until the client gives up
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ request) {
		if !answer.Load() {
			<-r.Context().Done()
		}
	})
	d := event(t, newID(t), rc.URL(), "")
	s := db.open(t)
	write(t, s, d)

	r := start(t, s, nil, fast())
	rc.arrival(t) // in flight
	r.stop()
	got, err := s.GetDelivery(context.Background(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != core.DeliveryPending || got.Attempts != 0 || got.NextAttemptAt.After(d.NextAttemptAt) {
		t.Fatalf("after the stop: %+v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	answer.Store(true)
	store := watch(db.open(t))
	start(t, store, nil, fast())
	if got := store.waitStatus(t, d.ID, core.DeliveryDelivered); got.Attempts != 1 {
		t.Errorf("delivered %+v", got)
	}
	reqs := rc.requests()
	if len(reqs) != 2 || reqs[0].ID != d.ID || reqs[1].ID != d.ID {
		t.Errorf("requests %+v", reqs)
	}
}
