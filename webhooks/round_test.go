package webhooks

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// storeWrites counts every store write the dispatcher makes.
type storeWrites struct {
	*watched
	writes atomic.Int64
}

func (c *storeWrites) RecordAndClaim(ctx context.Context, r core.DeliveryRound) ([]core.WebhookDelivery, error) {
	c.writes.Add(1)
	return c.watched.RecordAndClaim(ctx, r)
}

func (c *storeWrites) ClaimDeliveries(ctx context.Context, ids []string, until, now time.Time) ([]string, error) {
	c.writes.Add(1)
	return c.watched.ClaimDeliveries(ctx, ids, until, now)
}

func (c *storeWrites) UpdateDeliveries(ctx context.Context, ds []core.WebhookDelivery) error {
	c.writes.Add(1)
	return c.watched.UpdateDeliveries(ctx, ds)
}

func (c *storeWrites) UpdateDelivery(ctx context.Context, d core.WebhookDelivery) error {
	c.writes.Add(1)
	return c.watched.UpdateDelivery(ctx, d)
}

// A call's events go one after another; each round's one write records
// the previous event delivered and claims the next: a write per event,
// where an outcome write and a claim were two, each queued behind the
// transfer path's writes on a busy server.
func TestOneWritePerEventOfACall(t *testing.T) {
	w := watch(openStore(t))
	store := &storeWrites{watched: w}
	rc := newReceiver(t, nil)
	call := newID(t)
	const n = 6
	var ds []core.WebhookDelivery
	for range n {
		ds = append(ds, event(t, call, rc.URL(), ""))
	}
	write(t, w.Store, ds...)
	r := start(t, store, nil, fast())
	for _, d := range ds {
		w.waitStatus(t, d.ID, core.DeliveryDelivered)
	}
	r.stop()
	// The first round claims the first event; each later one records an
	// event and claims the next.
	if got := store.writes.Load(); got > n+1 {
		t.Errorf("%d events of a call took %d store writes, want at most %d", n, got, n+1)
	}
	var order []string
	for _, req := range rc.requests() {
		order = append(order, req.ID)
	}
	if len(order) != n {
		t.Fatalf("%d requests, want %d", len(order), n)
	}
	for i, d := range ds {
		if order[i] != d.ID {
			t.Fatalf("the call's events arrived as %v", order)
		}
	}
}

// Deliveries to a receiver reuse its connections: no more TCP
// connections are opened to it than deliveries may be in flight at once,
// however many are sent (the default transport keeps two idle per host,
// and opened a connection for most requests beyond those).
func TestConnectionsAreReusedPerReceiver(t *testing.T) {
	const (
		concurrency = 16
		perReceiver = 300
	)
	type receiver struct {
		srv   *httptest.Server
		conns atomic.Int64
	}
	var receivers [2]*receiver
	for i := range receivers {
		rcv := &receiver{}
		// The handler holds each request briefly, so that the deliveries
		// in flight overlap and every slot has a connection in use.
		rcv.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			time.Sleep(time.Millisecond)
		}))
		rcv.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				rcv.conns.Add(1)
			}
		}
		rcv.srv.Start()
		t.Cleanup(rcv.srv.Close)
		receivers[i] = rcv
	}
	s := openStore(t)
	var ds []core.WebhookDelivery
	for range perReceiver {
		for _, rcv := range receivers {
			ds = append(ds, event(t, "", rcv.srv.URL, ""))
		}
	}
	write(t, s, ds...)
	w := watch(s)
	cfg := fast()
	cfg.Concurrency = concurrency
	r := start(t, w, nil, cfg)
	for _, d := range ds {
		w.waitStatus(t, d.ID, core.DeliveryDelivered)
	}
	r.stop()
	for i, rcv := range receivers {
		if n := rcv.conns.Load(); n > concurrency {
			t.Errorf("receiver %d: %d deliveries over %d TCP connections, want at most %d (one per slot)",
				i, perReceiver, n, concurrency)
		}
	}
}
