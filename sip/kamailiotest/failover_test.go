package kamailiotest

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// fakeNode is a SIP peer standing in for a voicedock node in front of
// which only the proxy's routing is under test: it answers the health
// probes 200 and every INVITE with status (0: never).
type fakeNode struct {
	addr    string
	invites atomic.Int32
}

func startFakeNode(t *testing.T, status int) *fakeNode {
	t.Helper()
	n := &fakeNode{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(sipptest.FreePort(t)))}
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		n.invites.Add(1)
		if status != 0 {
			_ = tx.Respond(sip.NewResponseFromRequest(req, status, "Refused", nil))
		}
	})
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	conn, err := net.ListenPacket("udp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeUDP(conn)
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
		ua.Close()
	})
	return n
}

// TestFailoverOn5xxNotOn4xx: the shipped config offers a call a node
// refused with 5xx (a node at its VOICEDOCK_MAX_CALLS answers 503) to the
// next node, and gives a 4xx (the call's own answer: busy, not found)
// back to the caller. Node A refuses everything with 503, node B with
// 486: of two calls dispatched round-robin, the one that reaches A
// first fails over to B, so B sees both, and both callers get B's 486.
func TestFailoverOn5xxNotOn4xx(t *testing.T) {
	t.Parallel()
	a, b := startFakeNode(t, sip.StatusServiceUnavailable), startFakeNode(t, sip.StatusBusyHere)
	p := Start(t, Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(sipptest.FreePort(t))), Nodes: []string{a.addr, b.addr}})
	for range 2 {
		caller := sipptest.Start(t, "uac_expect_reject.xml", p.Addr(), sipptest.Options{}, "-s", "31850835037", "-set", "expect", "486")
		caller.Wait(t)
	}
	if a.invites.Load() != 1 || b.invites.Load() != 2 {
		t.Errorf("INVITEs: %d to the node answering 503, %d to the node answering 486; want 1 and 2", a.invites.Load(), b.invites.Load())
	}
}

// TestFailoverOnSilence: a node that takes the INVITE and says nothing is
// marked down at once (not at its next probe) and the call goes to the
// next node.
func TestFailoverOnSilence(t *testing.T) {
	t.Parallel()
	silent, busy := startFakeNode(t, 0), startFakeNode(t, sip.StatusBusyHere)
	p := Start(t, Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(sipptest.FreePort(t))), Nodes: []string{silent.addr, busy.addr},
		PingInterval: 30})
	for range 2 {
		caller := sipptest.Start(t, "uac_expect_reject.xml", p.Addr(), sipptest.Options{}, "-s", "31850835037", "-set", "expect", "486")
		caller.Wait(t)
	}
	if silent.invites.Load() != 1 || busy.invites.Load() != 2 {
		t.Errorf("INVITEs: %d to the silent node, %d to the busy one; want 1 and 2", silent.invites.Load(), busy.invites.Load())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := p.WaitNode(ctx, silent.addr, false); err != nil {
		t.Error(err)
	}
}
