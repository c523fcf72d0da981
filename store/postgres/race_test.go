package postgres_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/storetest"
)

// TestNodesRegisteringOneNumberAtOnce: nodes registering the same number
// at the same moment pass each other's check (neither sees the other's
// uncommitted row); the constraint lets one in and gives the others the
// check's own error.
func TestNodesRegisteringOneNumberAtOnce(t *testing.T) {
	a, b := twoNodes(t)
	const tries = 8
	errs := make(chan error, tries)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range tries {
		s := []storetest.Store{a, b}[i%2]
		wg.Go(func() {
			<-start
			errs <- s.CreatePhoneNumber(t.Context(), storetest.NumberFixture(t, "+31201234567", nil, nil))
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
			continue
		}
		storetest.MustCode(t, err, core.CodeConflict, "phone_number")
	}
	if ok != 1 {
		t.Errorf("%d of the nodes registered the number", ok)
	}
}

// TestDeletingAnAssistantANumberTookMeanwhile: a number on another node
// takes the assistant between the delete's check and its commit: the
// delete is a conflict, not an internal error, and the number keeps it.
func TestDeletingAnAssistantANumberTookMeanwhile(t *testing.T) {
	a, b := twoNodes(t)
	ctx := t.Context()
	for i := range 10 {
		as := storetest.AssistantFixture(t, "Front desk")
		if err := a.CreateAssistant(ctx, as); err != nil {
			t.Fatal(err)
		}
		n := storetest.NumberFixture(t, fmt.Sprintf("+3120123%04d", i), &as.ID, nil)
		var created, deleted error
		var wg sync.WaitGroup
		wg.Go(func() { created = b.CreatePhoneNumber(ctx, n) })
		wg.Go(func() { deleted = a.DeleteAssistant(ctx, as.ID, false) })
		wg.Wait()
		switch {
		case created == nil && deleted == nil:
			t.Fatal("the number was created and its assistant deleted")
		case created == nil:
			storetest.MustCode(t, deleted, core.CodeConflict, "id")
			if got, err := a.GetPhoneNumber(ctx, n.ID); err != nil || got.AssistantID == nil || *got.AssistantID != as.ID {
				t.Fatalf("number after the refused delete: %+v %v", got, err)
			}
		case deleted == nil:
			storetest.MustCode(t, created, core.CodeNotFound, "assistant_id")
		default:
			t.Fatalf("both failed: %v; %v", created, deleted)
		}
	}
}
