package server

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// DeliveryTracker lets a transport that writes notifications and
// responses from different goroutines tell a tool handler when its
// progress notifications are on the wire. mcp-go's stdio server queues
// notifications to a writer goroutine while the response is written by the
// request's own, so without this the result can overtake the last
// progress notification, which the client then drops.
type DeliveryTracker struct {
	mu      sync.Mutex
	pending map[string]int
	changed chan struct{}
}

// NewDeliveryTracker returns an empty tracker.
func NewDeliveryTracker() *DeliveryTracker {
	return &DeliveryTracker{pending: map[string]int{}, changed: make(chan struct{})}
}

// TokenKey is the tracker's key for a progress token: its JSON form, so
// that the string "1" and the number 1 stay apart.
func TokenKey(token any) string {
	b, _ := json.Marshal(token)
	return string(b)
}

// Sent records a notification handed to the transport for token.
func (t *DeliveryTracker) Sent(key string) {
	t.mu.Lock()
	t.pending[key]++
	t.mu.Unlock()
}

// Written records a notification for token written out.
func (t *DeliveryTracker) Written(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending[key] <= 1 {
		delete(t.pending, key)
	} else {
		t.pending[key]--
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

// deliveryIdle is how long Wait holds a result while none of the
// tracker's notifications is written: then the one it waits for was
// dropped (mcp-go drops what a stream that ended had taken).
const deliveryIdle = 5 * time.Second

// Wait blocks until every notification sent for key is written, ctx is
// done, or no notification of the tracker was written for deliveryIdle (a
// notification mcp-go dropped must not hold the result back for ever).
// The bound is one of silence, not of total time: under load the writer
// may need longer to work through the notifications queued ahead, and a
// result let go while it still does overtakes its last notification,
// which the client then drops.
func (t *DeliveryTracker) Wait(ctx context.Context, key string) {
	idle := time.NewTimer(deliveryIdle)
	defer idle.Stop()
	for {
		t.mu.Lock()
		n, changed := t.pending[key], t.changed
		t.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-changed:
			idle.Reset(deliveryIdle)
		case <-ctx.Done():
			return
		case <-idle.C:
			t.mu.Lock()
			delete(t.pending, key)
			t.mu.Unlock()
			return
		}
	}
}

type trackerKey struct{}

// WithDeliveryTracker returns ctx carrying t for the tool handlers.
func WithDeliveryTracker(ctx context.Context, t *DeliveryTracker) context.Context {
	return context.WithValue(ctx, trackerKey{}, t)
}

// DeliveryTrackerFrom returns the tracker in ctx, or nil.
func DeliveryTrackerFrom(ctx context.Context) *DeliveryTracker {
	return trackerFrom(ctx)
}

func trackerFrom(ctx context.Context) *DeliveryTracker {
	t, _ := ctx.Value(trackerKey{}).(*DeliveryTracker)
	return t
}
