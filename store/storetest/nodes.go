package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// nodeCall is a live call held by node ("": by none).
func nodeCall(t testing.TB, node string) core.Call {
	t.Helper()
	c := BareCall(t, core.CallInProgress)
	c.Node = node
	return c
}

// testNodeLeases: the owner of each call and its node's lease, the live
// calls of a node, the calls of lost nodes, and who may take a call.
func testNodeLeases(t *testing.T, be Backend) {
	s := be.open(t)
	ctx := t.Context()
	until, err := s.RenewNode(ctx, core.Node{ID: "n1", URL: "http://n1.invalid/mcp"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(until); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("lease until %v, want an hour from now", until)
	}
	if _, err := s.RenewNode(ctx, core.Node{ID: "n2", URL: "http://n2.invalid/mcp"}, -time.Second); err != nil {
		t.Fatal(err)
	}
	if n, err := s.GetNode(ctx, "n1"); err != nil || n.URL != "http://n1.invalid/mcp" || n.Expired || !n.LeaseUntil.Equal(until) {
		t.Fatalf("GetNode(n1) = %+v %v", n, err)
	}
	if n, err := s.GetNode(ctx, "n2"); err != nil || !n.Expired {
		t.Fatalf("GetNode(n2) = %+v %v", n, err)
	}
	if _, err := s.GetNode(ctx, "never"); !core.HasCode(err, core.CodeNotFound) {
		t.Fatalf("GetNode of an unknown node: %v", err)
	}
	onN1, onN2, onNone, onGhost := nodeCall(t, "n1"), nodeCall(t, "n2"), nodeCall(t, ""), nodeCall(t, "ghost")
	ended := nodeCall(t, "n2")
	ended.Status = core.CallEnded
	CreateCalls(t, s, onN1, onN2, onNone, onGhost, ended)

	o, err := s.CallOwner(ctx, onN1.ID)
	if err != nil || o.Node != "n1" || o.URL != "http://n1.invalid/mcp" || o.Expired || !o.Live || !o.LeaseUntil.Equal(until) {
		t.Fatalf("owner of a live node's call: %+v %v (lease until %v)", o, err, until)
	}
	if o, _ := s.CallOwner(ctx, onN2.ID); o.Node != "n2" || !o.Expired || !o.Live {
		t.Fatalf("owner of a lost node's call: %+v", o)
	}
	if o, _ := s.CallOwner(ctx, onNone.ID); o.Node != "" || o.Expired || !o.Live {
		t.Fatalf("owner of a call of no node: %+v", o)
	}
	if o, _ := s.CallOwner(ctx, ended.ID); o.Live {
		t.Fatalf("owner of an ended call: %+v", o)
	}
	if _, err := s.CallOwner(ctx, "no-such-call"); !core.HasCode(err, core.CodeNotFound) {
		t.Fatalf("owner of an unknown call: %v", err)
	}
	// UpdateCall writes the call's own fields: its owner stays.
	upd := onN1
	upd.Node, upd.Status = "", core.CallRinging
	if err := s.UpdateCall(ctx, upd); err != nil {
		t.Fatal(err)
	}
	if o, _ := s.CallOwner(ctx, onN1.ID); o.Node != "n1" {
		t.Fatalf("UpdateCall changed the owner: %+v", o)
	}

	if ids, err := s.NodeCalls(ctx, "n1", 10); err != nil || !slices.Equal(ids, []string{onN1.ID}) {
		t.Fatalf("NodeCalls(n1) = %v %v", ids, err)
	}
	if ids, err := s.NodeCalls(ctx, "", 10); err != nil || !slices.Equal(ids, []string{onNone.ID}) {
		t.Fatalf("NodeCalls(none) = %v %v", ids, err)
	}
	lost, err := s.LostCalls(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var lostIDs []string
	for _, o := range lost {
		lostIDs = append(lostIDs, o.CallID+"@"+o.Node)
	}
	slices.Sort(lostIDs)
	want := []string{onN2.ID + "@n2", onGhost.ID + "@ghost"}
	slices.Sort(want)
	if !slices.Equal(lostIDs, want) {
		t.Fatalf("LostCalls = %v, want %v", lostIDs, want)
	}

	for _, tc := range []struct {
		call             core.Call
		node, from, what string
		took             bool
	}{
		{onN1, "n3", "n1", "a live node's call", false},
		{onN2, "n3", "n1", "a call from a node that does not hold it", false},
		{ended, "n3", "n2", "an ended call", false},
		{onN2, "n3", "n2", "a lost node's call", true},
		{onN2, "n1", "n2", "a call taken already", false},
		{onNone, "n1", "", "a call of no node", true},
		{onN1, "n1", "n1", "its own call", true},
	} {
		took, err := s.TakeCall(ctx, tc.call.ID, tc.node, tc.from)
		if err != nil || took != tc.took {
			t.Fatalf("TakeCall of %s = %v %v, want %v", tc.what, took, err, tc.took)
		}
	}
	if o, _ := s.CallOwner(ctx, onN2.ID); o.Node != "n3" {
		t.Fatalf("owner after TakeCall: %+v", o)
	}
}

// testTakeCallOnce: two stores (two nodes) taking the same lost calls at
// once; each call goes to exactly one of them.
func testTakeCallOnce(t *testing.T, be Backend) {
	key := NewKey(t)
	a, b := be.openWith(t, key), be.openWith(t, key)
	ctx := t.Context()
	if _, err := a.RenewNode(ctx, core.Node{ID: "dead", URL: "http://dead.invalid/mcp"}, -time.Second); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 30 {
		c := nodeCall(t, "dead")
		CreateCalls(t, a, c)
		ids = append(ids, c.ID)
	}
	var wg sync.WaitGroup
	won := make([]map[string]bool, 2)
	for i, s := range []Store{a, b} {
		won[i] = map[string]bool{}
		wg.Go(func() {
			for _, id := range ids {
				took, err := s.TakeCall(ctx, id, []string{"a", "b"}[i], "dead")
				if err != nil {
					t.Error(err)
					return
				}
				if took {
					won[i][id] = true
				}
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		if won[0][id] == won[1][id] {
			t.Fatalf("call %s taken by a: %v, b: %v; want exactly one", id, won[0][id], won[1][id])
		}
	}
}
