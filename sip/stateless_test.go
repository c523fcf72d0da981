package sip

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
)

// countInvitesAndAcks makes a hook that counts the INVITEs and ACKs
// sipgo's transport layer hands on: each of them goes to the transaction
// layer too, which makes a server transaction of every one it cannot
// match (an ACK without an INVITE transaction included).
func countInvitesAndAcks(invites, acks *atomic.Int64) func(*UA) {
	return func(u *UA) {
		u.stack.TransportLayer().OnMessage(func(m sip.Message) {
			if r, ok := m.(*sip.Request); ok {
				switch {
				case r.IsInvite():
					invites.Add(1)
				case r.IsAck():
					acks.Add(1)
				}
			}
		})
	}
}

// waitTrue polls cond with a deadline.
func waitTrue(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBusyInviteRefusedStatelessly: while the core refuses new calls, an
// INVITE over UDP gets 503 with Retry-After, its retransmission the same
// 503 (same To tag), and the ACK of the 503 is taken: none of the three
// reaches sipgo's transaction layer, so no server transaction is made for
// them, and the core is never asked.
func TestBusyInviteRefusedStatelessly(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	g := &gatedHandler{recorder: rec} // refuses
	var invites, acks atomic.Int64
	ua, logs := serveUAHooked(t, g, nil, countInvitesAndAcks(&invites, &acks))
	h := &harness{ua: ua, rec: rec, addr: ua.LocalAddr().String(), logs: logs}

	s := startSipp(t, "uac_busy_retransmit.xml", h.addr, "-s", "100", "-nr")
	s.Wait(t)
	// The ACK is the last message sipp sent, and sipp does not wait for
	// anything after it: wait until it is read, by either path.
	waitTrue(t, func() bool { return ua.sl.acks.Load() > 0 || acks.Load() > 0 }, "the ACK of the 503 to be read")
	if i, a := invites.Load(), acks.Load(); i != 0 || a != 0 {
		t.Errorf("%d INVITEs and %d ACKs reached sipgo's transaction layer, want none", i, a)
	}
	if n := ua.sl.acks.Load(); n != 1 {
		t.Errorf("%d ACKs of a stateless 503 dropped, want 1", n)
	}
	if n := ua.sl.refused.Load(); n != 2 {
		t.Errorf("%d stateless 503s, want 2 (the INVITE and its retransmission)", n)
	}
	if b := ua.Stats().Busy; b != 2 {
		t.Errorf("Stats.Busy = %d, want 2", b)
	}
	select {
	case inv := <-rec.offers:
		t.Fatalf("the core was asked about an INVITE it refuses: %+v", inv)
	default:
	}
}

// TestInDialogInvitesPassWhileRefusing: at MaxCalls, and with the core
// refusing new calls, an answered call's re-INVITEs (hold, inactive,
// resume) are answered as ever and it ends with its BYE: only new
// INVITEs are refused.
func TestInDialogInvitesPassWhileRefusing(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	g := &gatedHandler{recorder: rec}
	g.admit.Store(true)
	rec.decide = func(context.Context, core.InboundInvite) core.OfferDecision {
		g.admit.Store(false) // from now on every new call is refused
		return core.OfferDecision{CallID: "held-1", KeepState: true}
	}
	ua, logs := serveUA(t, g, func(c *Config) { c.MaxCalls = 1 })
	h := &harness{ua: ua, rec: rec, addr: ua.LocalAddr().String(), logs: logs}

	s := startSipp(t, "uac_hold.xml", h.addr, "-s", "100")
	id := rec.expect(t, "answered").callID
	rec.expectEnded(t, id, core.EndCallerHangup)
	s.Wait(t)
	if b := ua.Stats().Busy; b != 0 {
		t.Errorf("Stats.Busy = %d, want 0: an in-dialog request was refused", b)
	}
}
