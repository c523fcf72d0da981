package core

import (
	"log/slog"
	"testing"
	"time"
)

// TestAllowCommandRefills follows one call's bucket on a fake clock: 2 a
// minute is a burst of 2, then one every 30 s, and retry_after counts
// down to the next one.
func TestAllowCommandRefills(t *testing.T) {
	m := NewCalls(t.Context(), CallsConfig{CommandsPerMinute: 2}, nil, nil, NewBus(), slog.New(slog.DiscardHandler))
	now := time.Unix(1_700_000_000, 0)
	m.now = func() time.Time { return now }
	lc := &liveCall{call: Call{ID: "c1"}}

	for i := range 2 {
		if err := m.allowCommand(lc); err != nil {
			t.Fatalf("command %d: %v", i+1, err)
		}
	}
	wantRefused := func(retryAfter int) {
		t.Helper()
		err := m.allowCommand(lc)
		e := AsError(err)
		if e == nil || e.Code != CodeRateLimitExceeded || e.RetryAfter != retryAfter {
			t.Fatalf("at %s: %+v, want rate_limit_exceeded retry after %d", now.Format(time.TimeOnly), e, retryAfter)
		}
	}
	wantRefused(30)
	now = now.Add(29 * time.Second)
	wantRefused(1)
	now = now.Add(time.Second)
	if err := m.allowCommand(lc); err != nil {
		t.Fatalf("after 30 s: %v", err)
	}
	wantRefused(30)

	// A refused command takes no token: a minute later the bucket is full.
	now = now.Add(time.Minute)
	for i := range 2 {
		if err := m.allowCommand(lc); err != nil {
			t.Fatalf("after a minute, command %d: %v", i+1, err)
		}
	}
	wantRefused(30)
}

func TestAllowCommandOff(t *testing.T) {
	m := NewCalls(t.Context(), CallsConfig{}, nil, nil, NewBus(), slog.New(slog.DiscardHandler))
	lc := &liveCall{call: Call{ID: "c1"}}
	for range 1000 {
		if err := m.allowCommand(lc); err != nil {
			t.Fatal(err)
		}
	}
	if lc.commands != nil {
		t.Error("a limiter was made with the limit off")
	}
}
