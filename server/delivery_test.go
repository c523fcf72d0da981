package server

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestDeliveryWaitsForASlowWriter: while the transport keeps writing the
// notifications queued ahead, the result waits for its own, however long
// that takes; it is let go only when nothing is written for deliveryIdle.
func TestDeliveryWaitsForASlowWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := NewDeliveryTracker()
		const other, mine = `"other"`, `"mine"`
		for range 8 {
			tr.Sent(other)
		}
		tr.Sent(mine)
		start := time.Now()
		written := make(chan struct{})
		go func() {
			defer close(written)
			// The writer works through the queue, one a second.
			for range 8 {
				time.Sleep(time.Second)
				tr.Written(other)
			}
			time.Sleep(time.Second)
			tr.Written(mine)
		}()
		tr.Wait(context.Background(), mine)
		if d := time.Since(start); d != 9*time.Second {
			t.Errorf("the result was let go after %s, before its notification was written (9s)", d)
		}
		<-written
	})
}

// TestDeliveryGivesUpOnADroppedNotification: a notification that is never
// written holds the result for deliveryIdle of silence only.
func TestDeliveryGivesUpOnADroppedNotification(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := NewDeliveryTracker()
		tr.Sent(`"lost"`)
		start := time.Now()
		tr.Wait(context.Background(), `"lost"`)
		if d := time.Since(start); d != deliveryIdle {
			t.Errorf("waited %s, want %s", d, deliveryIdle)
		}
		tr.Wait(context.Background(), `"lost"`) // forgotten: no second wait
		if d := time.Since(start); d != deliveryIdle {
			t.Errorf("a second Wait waited too: %s in all", d)
		}
	})
}
