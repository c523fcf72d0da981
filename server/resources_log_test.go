package server

import (
	"log/slog"
	"testing"

	"github.com/voicedock/voicedock/core"
)

// TestCallLogBuildsNothingWithoutSessions: a call's events become MCP log
// messages only for registered sessions. With none (a sessionless client's
// requests register none), an event costs no allocation: under load the
// server published a dozen per transfer.
func TestCallLogBuildsNothingWithoutSessions(t *testing.T) {
	r := newResources(nil, nil, slog.New(slog.DiscardHandler))
	e := core.Event{
		Type:     core.EventTransferStep,
		Call:     core.Call{ID: "call-1", Status: core.CallInProgress},
		Transfer: &core.Transfer{ID: "tr-1", Status: core.TransferRinging, Destination: "+15555550100"},
	}
	if allocs := testing.AllocsPerRun(100, func() { r.log(e) }); allocs != 0 {
		t.Errorf("%v allocations per event with no session, want 0", allocs)
	}
}
