package core_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
)

// leftLive stores a live call held by node, with a transfer under way,
// as a node that died would leave it; it returns the call's id.
func leftLive(t *testing.T, st *sqlite.Store, assistantID, node string) string {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	started := now.Add(-time.Minute)
	id, _ := core.NewID()
	if err := st.CreateCall(ctx, core.Call{ID: id, Direction: core.DirectionInbound, Status: core.CallInProgress, AssistantID: assistantID,
		StartedAt: &started, CreatedAt: started, UpdatedAt: started, Node: node}); err != nil {
		t.Fatal(err)
	}
	trID, _ := core.NewID()
	if err := st.SaveTransfer(ctx, core.Transfer{ID: trID, CallID: id, Destination: "sip:desk@127.0.0.1", DestinationType: "sip",
		Status: core.TransferRinging, Attempt: 1,
		Attempts:  []core.TransferAttempt{{Destination: "sip:desk@127.0.0.1", DestinationType: "sip", Status: core.TransferRinging}},
		Steps:     []core.TransferStep{{Status: core.TransferRequested, At: now}, {Status: core.TransferRinging, SIPStatus: 180, At: now}},
		CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return id
}

// webhookAssistant is an assistant whose calls are announced by webhook,
// so that every end leaves deliveries to count.
func webhookAssistant(t *testing.T, st *sqlite.Store) string {
	t.Helper()
	svc := core.NewConfiguration(st, slog.New(slog.DiscardHandler))
	a, err := svc.CreateAssistant(t.Context(), core.AssistantConfig{Name: "A", WebhookURL: "http://127.0.0.1:9/hook"})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// deliveredEvents lists the webhook events stored for a call, sorted.
func deliveredEvents(t *testing.T, st *sqlite.Store, callID string) []string {
	t.Helper()
	list, _, err := st.ListDeliveries(t.Context(), core.DeliveryFilter{CallID: callID, Page: core.Page{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range list {
		out = append(out, d.EventType)
	}
	slices.Sort(out)
	return out
}

// node starts a call manager as one node of several on st. A lease of an
// hour keeps its own loop from sweeping while the test drives the sweeps.
func node(t *testing.T, st *sqlite.Store, id string, lease time.Duration) *core.Calls {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	calls := core.NewCalls(ctx, core.CallsConfig{}, st, st, core.NewBus(), slog.New(slog.DiscardHandler))
	if err := calls.JoinCluster(t.Context(), core.NodeConfig{Node: core.Node{ID: id, URL: "http://" + id + ".invalid/mcp"}, Store: st, Lease: lease}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		calls.Shutdown(sctx)
		cancel()
	})
	return calls
}

// kill records node's lease as run out a second ago: what the others see
// of a node SIGKILLed a lease ago.
func kill(t *testing.T, st *sqlite.Store, id string) {
	t.Helper()
	if _, err := st.RenewNode(t.Context(), core.Node{ID: id, URL: "http://" + id + ".invalid/mcp"}, -time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestLostNodeCallsEndedOnce: the calls of a node whose lease ran out are
// ended with node_lost, their transfers canceled, each with one
// status-update, transfer-update and end-of-call-report, even with two
// nodes sweeping at the same moment; a live node's calls are left alone.
func TestLostNodeCallsEndedOnce(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ctx := t.Context()
	assistant := webhookAssistant(t, st)
	a := node(t, st, "node-a", time.Hour)
	b := node(t, st, "node-b", time.Hour)
	node(t, st, "node-alive", time.Hour)
	kill(t, st, "node-dead")
	var lost []string
	for range 20 {
		lost = append(lost, leftLive(t, st, assistant, "node-dead"))
	}
	alive := leftLive(t, st, assistant, "node-alive")

	var wg sync.WaitGroup
	ended := make([]int, 2)
	for i, sweeper := range []*core.Calls{a, b} {
		wg.Go(func() {
			for range 3 {
				ended[i] += sweeper.SweepLostCalls(ctx)
			}
		})
	}
	wg.Wait()
	if ended[0]+ended[1] != len(lost) {
		t.Fatalf("sweeps ended %v calls, want %d in all", ended, len(lost))
	}
	want := []string{core.WebhookEndOfCallReport, core.WebhookStatusUpdate, core.WebhookTransferUpdate}
	for _, id := range lost {
		c, err := st.GetCall(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != core.CallEnded || c.EndReason != core.EndNodeLost || c.EndedAt == nil || c.DurationSeconds < 59 {
			t.Fatalf("lost call: %+v", c)
		}
		if tr := c.Transfers[0]; tr.Status != core.TransferCanceled || tr.Reason != core.TransferNodeLostReason || tr.Attempts[0].Status != core.TransferCanceled {
			t.Fatalf("lost call's transfer: %+v", tr)
		}
		if got := deliveredEvents(t, st, id); !slices.Equal(got, want) {
			t.Fatalf("deliveries of a lost call %v, want %v", got, want)
		}
	}
	if c, _ := st.GetCall(ctx, alive); c.Status != core.CallInProgress {
		t.Fatalf("a call of a live node was touched: %+v", c)
	}
	if n := a.SweepLostCalls(ctx) + b.SweepLostCalls(ctx); n != 0 {
		t.Fatalf("a later sweep ended %d calls", n)
	}
}

// TestRestartAndSweepAgree: a node restarting under its own id ends the
// calls its previous run held (server_restart) while another node sweeps
// them as lost; each call is ended once, by one of the two, and the
// restart leaves the other nodes' calls alone.
func TestRestartAndSweepAgree(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ctx := t.Context()
	assistant := webhookAssistant(t, st)
	sweeper := node(t, st, "node-s", time.Hour)
	node(t, st, "node-y", time.Hour)
	kill(t, st, "node-x")
	var mine []string
	for range 20 {
		mine = append(mine, leftLive(t, st, assistant, "node-x"))
	}
	others := leftLive(t, st, assistant, "node-y")

	var wg sync.WaitGroup
	wg.Go(func() {
		for range 3 {
			sweeper.SweepLostCalls(ctx)
		}
	})
	restarted := core.NewCalls(ctx, core.CallsConfig{}, st, st, core.NewBus(), slog.New(slog.DiscardHandler))
	if err := restarted.JoinCluster(ctx, core.NodeConfig{Node: core.Node{ID: "node-x", URL: "http://x.invalid/mcp"}, Store: st, Lease: time.Hour}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restarted.Shutdown(context.Background()) })
	if _, err := restarted.RecoverAfterRestart(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	reasons := map[string]int{}
	for _, id := range mine {
		c, _ := st.GetCall(ctx, id)
		reasons[c.EndReason]++
		if c.Live() {
			t.Fatalf("call of the restarted node still live: %+v", c)
		}
		if got := deliveredEvents(t, st, id); len(got) != 3 {
			t.Fatalf("call ended by %s has deliveries %v, want one of each", c.EndReason, got)
		}
	}
	if reasons[core.EndServerRestart]+reasons[core.EndNodeLost] != len(mine) {
		t.Fatalf("end reasons %v", reasons)
	}
	if c, _ := st.GetCall(ctx, others); c.Status != core.CallInProgress {
		t.Fatalf("the restart ended another node's call: %+v", c)
	}
}

// TestLocate: a command for a call goes to the node holding it; one for
// a call whose node's lease ran out is refused with call_not_active.
func TestLocate(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ctx := t.Context()
	assistant := webhookAssistant(t, st)
	a := node(t, st, "node-a", time.Hour)
	node(t, st, "node-b", time.Hour)
	kill(t, st, "node-dead")
	onB := leftLive(t, st, assistant, "node-b")
	onDead := leftLive(t, st, assistant, "node-dead")
	onA := leftLive(t, st, assistant, "node-a")

	if p, err := a.Locate(ctx, onB); err != nil || p.Local || p.Node != "node-b" || p.URL != "http://node-b.invalid/mcp" {
		t.Fatalf("call on node-b: %+v %v", p, err)
	}
	if _, err := a.Locate(ctx, onDead); !core.HasCode(err, core.CodeCallNotActive) {
		t.Fatalf("call on a lost node: %v", err)
	}
	for _, id := range []string{onA, "no-such-call"} {
		if p, err := a.Locate(ctx, id); err != nil || !p.Local {
			t.Fatalf("Locate(%s): %+v %v", id, p, err)
		}
	}
	single := core.NewCalls(ctx, core.CallsConfig{}, st, st, core.NewBus(), slog.New(slog.DiscardHandler))
	if p, err := single.Locate(ctx, onB); err != nil || !p.Local {
		t.Fatalf("a single node forwards nothing: %+v %v", p, err)
	}
}

// TestNodeIDInUse: a second process under the id of a live node at
// another address is refused; the same node restarted at its address, or
// a new process under the id of a node whose lease ran out, joins.
func TestNodeIDInUse(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ctx := t.Context()
	node(t, st, "node-a", time.Hour) // at http://node-a.invalid/mcp
	join := func(id, url string) error {
		calls := core.NewCalls(ctx, core.CallsConfig{}, st, st, core.NewBus(), slog.New(slog.DiscardHandler))
		t.Cleanup(func() { calls.Shutdown(context.Background()) })
		return calls.JoinCluster(ctx, core.NodeConfig{Node: core.Node{ID: id, URL: url}, Store: st, Lease: time.Hour})
	}
	if err := join("node-a", "http://elsewhere.invalid/mcp"); err == nil || !strings.Contains(err.Error(), "in use by a live node at http://node-a.invalid/mcp") {
		t.Fatalf("a second node-a elsewhere: %v", err)
	}
	if err := join("node-a", "http://node-a.invalid/mcp"); err != nil {
		t.Fatalf("node-a restarted: %v", err)
	}
	kill(t, st, "node-x")
	if err := join("node-x", "http://new-home.invalid/mcp"); err != nil {
		t.Fatalf("a lost node's id taken up elsewhere: %v", err)
	}
}

// TestLeaseRenewed: a node's own loop keeps its lease ahead of the clock,
// and its calls are not lost while it runs.
func TestLeaseRenewed(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ctx := t.Context()
	assistant := webhookAssistant(t, st)
	// Long enough that a renewal (every third of it) held up by a loaded
	// machine, with the race detector on, does not look like a lapse.
	const lease = 2 * time.Second
	node(t, st, "node-r", lease)
	id := leftLive(t, st, assistant, "node-r")
	first, err := st.CallOwner(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, err := st.CallOwner(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if o.Expired {
			t.Fatalf("lease ran out while the node runs: %+v", o)
		}
		if o.LeaseUntil.After(first.LeaseUntil.Add(lease)) {
			break // renewed at least twice past the first lease
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease never renewed: %+v", o)
		}
		time.Sleep(20 * time.Millisecond) // polling the store; the event is the renewal
	}
}

// cutOff is a node's store whose lease renewals fail while cut is set:
// the node runs on, cut off from the others' view.
type cutOff struct {
	*sqlite.Store
	cut atomic.Bool
}

func (c *cutOff) RenewNode(ctx context.Context, n core.Node, ttl time.Duration) (time.Time, error) {
	if c.cut.Load() {
		return time.Time{}, errors.New("cut off from the store")
	}
	return c.Store.RenewNode(ctx, n, ttl)
}

// TestLapsedNodeLetsTakenCallsGo: a node whose renewals fail runs on
// while another node takes its calls over and ends them (node_lost). What
// then happens on its side (a caller hanging up, a transfer asked for)
// records nothing more, and once it renews again it hangs up the calls it
// still held: each call has one end and one end-of-call-report.
func TestLapsedNodeLetsTakenCallsGo(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := openStore(t)
	svc := core.NewConfiguration(st, slog.New(slog.DiscardHandler))
	a, err := svc.CreateAssistant(ctx, core.AssistantConfig{Name: "A", WebhookURL: "http://127.0.0.1:9/hook"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreatePhoneNumber(ctx, core.PhoneNumberConfig{PhoneNumber: "+31850835037", AssistantID: &a.ID}); err != nil {
		t.Fatal(err)
	}
	store := &cutOff{Store: st}
	calls := core.NewCalls(ctx, core.CallsConfig{AllowedSources: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, AllowAdhocTransfers: true},
		st, st, core.NewBus(), slog.New(slog.DiscardHandler))
	sip := &scriptedSIP{calls: calls, refer: func(context.Context, string, string) (int, error) { return 603, nil }}
	calls.SetSignaling(sip)
	const lease = 300 * time.Millisecond
	if err := calls.JoinCluster(ctx, core.NodeConfig{Node: core.Node{ID: "node-a", URL: "http://a.invalid/mcp"}, Store: store, Lease: lease}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { calls.Shutdown(context.Background()) })
	var ids []string
	for i := range 2 {
		dec := calls.OfferCall(ctx, core.InboundInvite{SIPCallID: fmt.Sprint("c", i), Called: "31850835037", Caller: "+31611122233", Source: netip.MustParseAddrPort("127.0.0.1:5099")})
		if dec.CallID == "" {
			t.Fatalf("call refused: %+v", dec)
		}
		calls.CallAnswered(ctx, dec.CallID)
		ids = append(ids, dec.CallID)
	}

	store.cut.Store(true)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) { // polling the lease
		if o, _ := st.CallOwner(ctx, ids[0]); o.Expired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lease never ran out")
		}
	}
	if n := node(t, st, "node-b", time.Hour).SweepLostCalls(ctx); n != 2 {
		t.Fatalf("the other node ended %d calls, want 2", n)
	}
	// Cut off still: the first caller hangs up, the second call is asked
	// to transfer.
	calls.CallEnded(ctx, ids[0], core.EndCallerHangup)
	if _, err := calls.Transfer(ctx, core.TransferRequest{CallID: ids[1], Destination: "sip:desk@127.0.0.1"}, nil); !core.HasCode(err, core.CodeCallNotActive) {
		t.Fatalf("transfer of a call taken over: %v", err)
	}
	// Back in touch: the call it still held is hung up.
	store.cut.Store(false)
	for deadline := time.Now().Add(5 * time.Second); !slices.Contains(sip.hangups(), ids[1]); time.Sleep(20 * time.Millisecond) { // polling the fake's record
		if time.Now().After(deadline) {
			t.Fatalf("the call taken over was not hung up: %v", sip.hangups())
		}
	}
	for deadline := time.Now().Add(5 * time.Second); calls.LiveCount() != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls still held", calls.LiveCount())
		}
	}
	for _, id := range ids {
		c, _ := st.GetCall(ctx, id)
		if c.EndReason != core.EndNodeLost {
			t.Errorf("call %s on record: %s/%s, want ended by the other node (node_lost)", id, c.Status, c.EndReason)
		}
		events := deliveredEvents(t, st, id)
		reports := 0
		for _, e := range events {
			if e == core.WebhookEndOfCallReport {
				reports++
			}
		}
		if reports != 1 {
			t.Errorf("call %s has %d end-of-call-reports (%v)", id, reports, events)
		}
	}
}
