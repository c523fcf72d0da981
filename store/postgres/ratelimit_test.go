package postgres_test

import (
	"sync"
	"testing"
	"time"
)

// TestRateLimitIsTheDeployments: requests of one key on two nodes draw
// from one bucket: of 30 at once with a limit of 10 a minute, 10 pass,
// and the next is refused on either node; another key has its own.
func TestRateLimitIsTheDeployments(t *testing.T) {
	a, b := twoNodes(t)
	const limit = 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for i := range 30 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			_, ok, err := s.TakeToken(t.Context(), "key:ops", limit, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				taken++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// A token comes back every 6 s: the test is over long before.
	if taken != limit {
		t.Fatalf("%d of 30 requests passed, want %d", taken, limit)
	}
	left, ok, err := b.TakeToken(t.Context(), "key:ops", limit, time.Minute)
	if err != nil || ok || left >= 1 {
		t.Errorf("the next request: left %v, taken %v, %v", left, ok, err)
	}
	left, ok, err = a.TakeToken(t.Context(), "key:other", limit, time.Minute)
	if err != nil || !ok || left != limit-1 {
		t.Errorf("another key: left %v, taken %v, %v", left, ok, err)
	}
}

// TestRateLimitRefills: an empty bucket gets its tokens back at the
// limit's rate, by the database's clock.
func TestRateLimitRefills(t *testing.T) {
	a, b := twoNodes(t)
	const limit, window = 2, 400 * time.Millisecond // a token every 200 ms
	for range limit {
		if _, ok, err := a.TakeToken(t.Context(), "key:ops", limit, window); err != nil || !ok {
			t.Fatalf("a full bucket refused: %v", err)
		}
	}
	emptied := time.Now()
	for {
		_, ok, err := b.TakeToken(t.Context(), "key:ops", limit, window)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Since(emptied) > waitLimit {
			t.Fatal("no token came back")
		}
	}
	if waited := time.Since(emptied); waited < 100*time.Millisecond {
		t.Errorf("a token came back after %v, want about 200 ms", waited)
	}
}
