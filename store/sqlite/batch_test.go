package sqlite

import (
	"context"
	"sync"
	"testing"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/storetest"
)

// TestBatchedWritesFailAlone writes from many goroutines at once, so that
// writes share transactions, with every third one bound to fail: each
// failure must come back to its own writer only, and every other write
// must be stored.
func TestBatchedWritesFailAlone(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	const n = 300
	calls := make([]core.Call, n)
	for i := range calls {
		calls[i] = storetest.BareCall(t, core.CallRinging)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			if i%3 == 0 {
				// Never created: the update must fail with not_found.
				errs[i] = s.UpdateCall(ctx, calls[i])
				return
			}
			if err := s.CreateCall(ctx, calls[i]); err != nil {
				errs[i] = err
				return
			}
			c := calls[i]
			c.Status = core.CallInProgress
			errs[i] = s.UpdateCall(ctx, c)
		})
	}
	wg.Wait()
	for i, c := range calls {
		got, err := s.GetCall(ctx, c.ID)
		if i%3 == 0 {
			storetest.MustCode(t, errs[i], core.CodeNotFound, "id")
			storetest.MustCode(t, err, core.CodeNotFound, "id")
			continue
		}
		if errs[i] != nil {
			t.Fatalf("write %d: %v", i, errs[i])
		}
		if err != nil || got.Status != core.CallInProgress {
			t.Fatalf("call %d: %v %+v", i, err, got)
		}
	}
}

// TestBatchedWriteCancelled: a write whose context is done fails with it
// and takes no other write along.
func TestBatchedWriteCancelled(t *testing.T) {
	s, _ := openTemp(t)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	var wg sync.WaitGroup
	calls := make([]core.Call, 50)
	errs := make([]error, len(calls))
	for i := range calls {
		calls[i] = storetest.BareCall(t, core.CallRinging)
		wg.Go(func() {
			ctx := context.Background()
			if i%5 == 0 {
				ctx = done
			}
			errs[i] = s.CreateCall(ctx, calls[i])
		})
	}
	wg.Wait()
	for i, c := range calls {
		_, err := s.GetCall(context.Background(), c.ID)
		if i%5 == 0 {
			if errs[i] == nil || err == nil {
				t.Errorf("cancelled write %d: %v, stored: %v", i, errs[i], err)
			}
			continue
		}
		if errs[i] != nil || err != nil {
			t.Errorf("write %d: %v, read: %v", i, errs[i], err)
		}
	}
}

// BenchmarkUpdateCallParallel is the call hot path's write from many
// goroutines, as under load: writes share transactions.
func BenchmarkUpdateCallParallel(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	var calls []core.Call
	for range 64 {
		c := storetest.BareCall(b, core.CallInProgress)
		if err := s.CreateCall(ctx, c); err != nil {
			b.Fatal(err)
		}
		calls = append(calls, c)
	}
	var mu sync.Mutex
	next := 0
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		c := calls[next%len(calls)]
		next++
		mu.Unlock()
		for pb.Next() {
			if err := s.UpdateCall(ctx, c); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
