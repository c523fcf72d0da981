package core_test

import (
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/voicedock/voicedock/core"
)

// TestTrunkMonitor runs on synctest's clock: a probe's result belongs to
// the trunk's settings as of their updated_at (a millisecond), so the
// reconfiguration below comes a moment later, as it would in life; on the
// wall clock both could fall in one millisecond.
func TestTrunkMonitor(t *testing.T) { synctest.Test(t, testTrunkMonitor) }

func testTrunkMonitor(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	ctx := t.Context()
	trunks, _, err := f.svc.ListTrunks(ctx, core.Page{})
	if err != nil || len(trunks) != 1 {
		t.Fatalf("trunks: %v %v", trunks, err)
	}
	id := trunks[0].ID
	mon := core.NewTrunkMonitor(f.store, f.sip, time.Second, slog.New(slog.DiscardHandler))
	f.svc.SetTrunkHealth(mon)
	if got, _ := f.svc.GetTrunk(ctx, id); got.Health != nil {
		t.Errorf("health before a probe: %+v", got.Health)
	}
	// The scripted SIP side answers nothing: unreachable is a result.
	tr, h, err := mon.Probe(ctx, id)
	if err != nil || h.Reachable || h.Error == "" || h.CheckedAt.IsZero() || tr.Password != "" {
		t.Fatalf("Probe = %+v, %+v, %v", tr, h, err)
	}
	got, _ := f.svc.GetTrunk(ctx, id)
	if got.Health == nil || got.Health.Error != h.Error {
		t.Errorf("get_trunk health: %+v", got.Health)
	}
	// New settings: the old probe says nothing about them.
	time.Sleep(time.Second)
	if _, _, err := f.svc.ConfigureTrunk(ctx, id, core.TrunkConfig{Name: "pbx", Host: "127.0.0.2", Port: 5070, Transport: "tcp"}, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.GetTrunk(ctx, id); got.Health != nil {
		t.Errorf("health of the old settings shown: %+v", got.Health)
	}
	if _, _, err := mon.Probe(ctx, "nope"); !core.HasCode(err, core.CodeNotFound) {
		t.Errorf("Probe of an unknown trunk: %v", err)
	}
	if len(mon.Snapshot()) != 1 {
		t.Errorf("snapshot: %v", mon.Snapshot())
	}
	if err := f.svc.DeleteTrunk(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	if len(mon.Snapshot()) != 0 {
		t.Errorf("a deleted trunk's health stays: %v", mon.Snapshot())
	}
}
