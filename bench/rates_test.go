package main

import (
	"context"
	"slices"
	"testing"
)

// The reference ramp goes on past the server's top, so that it ends where
// sipp fails.
func TestReferenceRates(t *testing.T) {
	got := referenceRates([]int{100, 250, 500, 750, 1000, 1500, 2000, 3000}, 6)
	want := []int{2000, 3000, 4500, 7000, 10500, 16000, 24000, 36000}
	if !slices.Equal(got, want) {
		t.Errorf("full: %v, want %v", got, want)
	}
	if got := referenceRates([]int{50, 150}, 1); !slices.Equal(got, []int{50, 150, 225}) {
		t.Errorf("quick: %v", got)
	}
}

// The core's ramp starts at the best rate over MCP.
func TestRatesFrom(t *testing.T) {
	rates := []int{100, 250, 500, 750, 1000}
	for _, c := range []struct {
		best int
		want []int
	}{
		{750, []int{750, 1000}},
		{100, rates},
		{0, rates},   // nothing passed over MCP
		{600, rates}, // a best from -rates not in the list
	} {
		if got := ratesFrom(rates, c.best); !slices.Equal(got, c.want) {
			t.Errorf("from %d: %v, want %v", c.best, got, c.want)
		}
	}
}

// A settle that gave up on calls left live (their callers stopped
// mid-step) does not make the next settles wait for as many again.
func TestSettlerWaitsOnceForCallsLeft(t *testing.T) {
	live, polls := 6, 0
	s := &settler{live: func(context.Context) int { polls++; return live }}
	if err := s.settle(t.Context()); err == nil {
		t.Fatal("six calls that stay live settled")
	}
	polls = 0
	if err := s.settle(t.Context()); err != nil {
		t.Fatalf("the same six calls: %v", err)
	}
	if polls != 1 {
		t.Errorf("polled %d times for the calls left, want 1", polls)
	}
	live = 7 // one more left by another step: waited for
	if err := s.settle(t.Context()); err == nil {
		t.Fatal("seven calls that stay live settled after six were left")
	}
}
