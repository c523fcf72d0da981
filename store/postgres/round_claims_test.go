package postgres_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/postgres"
	"github.com/voicedock/voicedock/store/storetest"
)

// TestRoundsGoToOneNode: two nodes run dispatcher rounds on one outbox at
// once, each recording the last round's deliveries delivered and claiming
// the next (the calls' next events and the due candidates it read): every
// delivery is claimed once, by one node, and each call's events are
// claimed in order, one at a time, though the nodes alternate.
func TestRoundsGoToOneNode(t *testing.T) {
	a, b := twoNodes(t)
	t0 := storetest.Now().Add(-time.Second)
	const calls, perCall = 60, 2
	order := map[string][]string{} // call: its deliveries in order
	var all []core.WebhookDelivery
	for range calls {
		call := storetest.NewID(t)
		for range perCall {
			d := storetest.DeliveryFixture(t, call, hook, t0)
			all = append(all, d)
			order[call] = append(order[call], d.ID)
		}
	}
	storetest.AddDeliveries(t, a, all...)

	var (
		mu      sync.Mutex
		claims  = map[string]int{}      // delivery: times claimed
		byCall  = map[string][]string{} // call: its deliveries as claimed
		settled int
	)
	node := func(s *postgres.Store) error {
		var outcomes []core.WebhookDelivery
		for range 500 {
			mu.Lock()
			done := settled == len(all)
			mu.Unlock()
			if done && len(outcomes) == 0 {
				return nil
			}
			now := storetest.Now()
			due, err := s.DueDeliveries(t.Context(), now, 16)
			if err != nil {
				return err
			}
			got, err := s.RecordAndClaim(t.Context(), core.DeliveryRound{Outcomes: outcomes, Now: now,
				Until: now.Add(time.Minute), Limit: 16, Candidates: due})
			if err != nil {
				return err
			}
			mu.Lock()
			settled += len(outcomes)
			for _, d := range got {
				claims[d.ID]++
				byCall[d.CallID] = append(byCall[d.CallID], d.ID)
			}
			mu.Unlock()
			outcomes = outcomes[:0]
			for _, d := range got {
				d.Status, d.Attempts, d.LastStatus, d.DeliveredAt = core.DeliveryDelivered, 1, 200, storetest.Ptr(now)
				outcomes = append(outcomes, d)
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []*postgres.Store{a, b} {
		wg.Go(func() { errs[i] = node(s) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	for _, d := range all {
		if n := claims[d.ID]; n != 1 {
			t.Errorf("delivery %s claimed %d times", d.ID, n)
		}
		if got := storetest.GetDelivery(t, a, d.ID); got.Status != core.DeliveryDelivered {
			t.Errorf("delivery %s %s", d.ID, got.Status)
		}
	}
	for call, want := range order {
		if !slices.Equal(byCall[call], want) {
			t.Errorf("call %s claimed as %v, want %v", call, byCall[call], want)
		}
	}
}
