package main

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/voicedock/voicedock/sip/kamailiotest"
	"github.com/voicedock/voicedock/sip/sipptest"
)

// Kamailio's probe interval and reply timeout in the cluster test: a dead
// node is out within their sum. A node that has not replied to an INVITE
// within the timeout loses the call to the next one, so the timeout is
// longer than a race-built node's stall on a loaded machine: at 500 ms,
// two fresh clones run at once saw a call answered by one node and
// cancelled to it by Kamailio, which had given it to another.
const (
	proxyPing    = time.Second
	proxyTimeout = 1500 * time.Millisecond
)

var proxiedAnswered = regexp.MustCompile(`msg="call answered" call_id=(\S+)`)

// answeredCalls are the ids of the calls the node answered so far.
func (n *clusterNode) answeredCalls() map[string]bool {
	out := map[string]bool{}
	for _, m := range proxiedAnswered.FindAllStringSubmatch(n.logs.String(), -1) {
		out[m[1]] = true
	}
	return out
}

// nextProxiedAnswer waits for a call answered by any of the nodes that is
// not in seen, and returns the node and the call id.
func nextProxiedAnswer(t *testing.T, nodes []*clusterNode, seen map[string]bool, timeout time.Duration) (*clusterNode, string) {
	t.Helper()
	done := make(chan struct{})
	defer close(done)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		// Woken by the next line any node logs.
		wake := make(chan struct{}, len(nodes))
		for _, n := range nodes {
			changed := n.logs.changes()
			go func() {
				select {
				case <-changed:
					wake <- struct{}{}
				case <-done:
				}
			}()
			for id := range n.answeredCalls() {
				if !seen[id] {
					seen[id] = true
					return n, id
				}
			}
		}
		select {
		case <-wake:
		case <-deadline.C:
			t.Fatalf("no node answered a new call within %v", timeout)
		}
	}
}

// others are the nodes but n.
func others(nodes []*clusterNode, n *clusterNode) []*clusterNode {
	var out []*clusterNode
	for _, o := range nodes {
		if o != n {
			out = append(out, o)
		}
	}
	return out
}

// TestClusterBehindKamailio runs three nodes on one PostgreSQL behind
// Kamailio started from the shipped deploy/kamailio/kamailio.cfg, with
// sipp callers that call Kamailio only. New calls are spread over the
// nodes; every in-dialog request of a call (the caller's ACK, re-INVITE,
// BYE and REFER's NOTIFYs, the node's REFER and BYE) passes through the
// proxy; a transfer asked of a node that does not hold the call is
// carried out by the one that does. Then one node is SIGKILLed while it
// holds a call and webhooks are in flight: Kamailio takes it out of the
// rotation within its probe interval, the calls placed meanwhile are
// answered by the others, its calls end node_lost with one
// end-of-call-report each, and every stored event is delivered, nothing
// left claimed by the dead node.
func TestClusterBehindKamailio(t *testing.T) {
	t.Parallel()
	hooks := newCrashHooks(t)
	env := append(sharedDatabase(t),
		"VOICEDOCK_NODE_LEASE=1s",
		"VOICEDOCK_WEBHOOK_URL="+hooks.srv.URL,
		// A delivery claimed by a node that dies waits for its claim (this
		// timeout and the dispatcher's margin) to run out.
		"VOICEDOCK_WEBHOOK_TIMEOUT=1s",
		// Behind Kamailio every call comes from its one address.
		"VOICEDOCK_SIP_RATE_LIMIT=0",
		"VOICEDOCK_CALL_COMMANDS_PER_MINUTE=0",
	)
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{Timeout: 60 * time.Second}, "-set", "ring_ms", "100")
	nodes := make([]*clusterNode, 3)
	for i := range nodes {
		// Each node on its own loopback address, as on its own machine.
		nodes[i] = startClusterNode(t, "node"+strconv.Itoa(i+1), slices.Concat(env, []string{"VOICEDOCK_SIP_ADDR=127.0.0." + strconv.Itoa(11+i) + ":0"})...)
	}
	// One configuration, made on one node, is every node's. No message
	// before the transfer: its conversation-update delivery is an event
	// type list_webhook_deliveries' output schema does not list yet.
	nodes[0].line(t).configureMessage(t, target.Port(), "")
	proxy := kamailiotest.Start(t, kamailiotest.Options{
		Addr:         net.JoinHostPort("127.0.0.1", strconv.Itoa(sipptest.FreePort(t))),
		Nodes:        []string{nodes[0].sipAddr, nodes[1].sipAddr, nodes[2].sipAddr},
		PingInterval: int(proxyPing / time.Second),
		Timeout:      proxyTimeout,
	})
	seen := map[string]bool{}
	var callIDs []string
	start := time.Now()

	// Spread: six calls that hang up themselves, and one that puts the
	// node on hold and back with re-INVITEs before it hangs up; each
	// re-INVITE, ACK and BYE must reach the node that answered, through
	// the proxy.
	hold := sipptest.Start(t, "uac_hold.xml", proxy.Addr(), sipptest.Options{}, "-s", calledUser)
	callers := sipptest.Start(t, "uac_call_hangup.xml", proxy.Addr(), sipptest.Options{Calls: 6}, "-s", calledUser, "-d", "300", "-r", "10")
	callers.Wait(t)
	hold.Wait(t)
	for _, n := range nodes {
		got := n.answeredCalls()
		if len(got) == 0 {
			t.Errorf("%s answered none of the 7 calls", n.id)
		}
		for id := range got {
			seen[id] = true
			callIDs = append(callIDs, id)
		}
		t.Logf("%s answered %d calls", n.id, len(got))
	}

	// A transfer asked of another node than the call's: the owner sends
	// the REFER and the BYE out through the proxy, the caller's NOTIFYs
	// come back through it, and the client of the other node sees it all.
	caller := sipptest.Start(t, "uac_transfer_ok.xml", proxy.Addr(), sipptest.Options{}, "-s", calledUser)
	owner, callID := nextProxiedAnswer(t, nodes, seen, 20*time.Second)
	callIDs = append(callIDs, callID)
	asked := others(nodes, owner)[0]
	res, steps := transfer(t, asked.c, callID, salesNumber)
	if res.isError {
		t.Fatalf("transfer of %s's call on %s: %s", owner.id, asked.id, res.text)
	}
	checkProgress(t, steps, "completed", asked.logs)
	asked.logs.waitFor(t, regexp.MustCompile(`msg="tool call carried to the node holding the call" tool=transfer_call node=`+owner.id), 0, 5*time.Second)
	caller.Wait(t)
	target.Wait(t)
	for _, method := range []string{"REFER", "BYE"} {
		if !receivedThrough(caller, method, proxy.Addr()) {
			t.Errorf("the caller's %s from %s did not come through Kamailio (no Via of %s)\n%s", method, owner.id, proxy.Addr(), caller.Traces())
		}
	}
	t.Logf("transfer done after %v", time.Since(start).Round(time.Millisecond))

	// A node dies: calls held on the nodes, the webhook receiver slow so
	// that deliveries are in flight, then SIGKILL of a node holding a
	// call. The calls placed right after are answered by the others,
	// failing over from the dead node until the probes take it out.
	hooks.set(false, 3*time.Second)
	sipptest.Start(t, "uac_wait_bye.xml", proxy.Addr(), sipptest.Options{Calls: 3}, "-s", calledUser, "-r", "10", "-recv_timeout", "30000")
	owners := map[*clusterNode][]string{}
	for range 3 {
		n, id := nextProxiedAnswer(t, nodes, seen, 20*time.Second)
		owners[n] = append(owners[n], id)
		callIDs = append(callIDs, id)
	}
	var dead *clusterNode
	for _, n := range nodes {
		if len(owners[n]) > 0 {
			dead = n
			break
		}
	}
	// Each held call's first event is on its way (a call's events go out
	// in order, one at a time) when the node dies.
	hooks.waitFor(t, "the held calls' first deliveries in flight", 10*time.Second, func([]hookEvent) bool { return hooks.inFlight() >= 3 })
	kill(t, dead.cmd.Process)
	killed := time.Now()
	hooks.set(false, 0)
	after := sipptest.Start(t, "uac_call_hangup.xml", proxy.Addr(), sipptest.Options{Calls: 6}, "-s", calledUser, "-d", "200", "-r", "4")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := proxy.WaitNode(ctx, dead.sipAddr, false); err != nil {
		t.Fatal(err)
	}
	out := time.Since(killed)
	t.Logf("%s killed; out of the rotation after %v", dead.id, out.Round(time.Millisecond))
	if limit := proxyPing + proxyTimeout + 500*time.Millisecond; out > limit {
		t.Errorf("%s left the rotation after %v, want within the probe interval and timeout (%v)", dead.id, out, limit)
	}
	after.Wait(t)
	alive := others(nodes, dead)
	// sipp has every answer now; a node's log line for one may come a
	// moment later on a loaded machine (a fresh clone counted 5 of 6 as
	// soon as sipp was done), so each is waited for.
	for range 6 {
		_, id := nextProxiedAnswer(t, alive, seen, 10*time.Second)
		callIDs = append(callIDs, id)
	}
	for _, n := range alive {
		for id := range n.answeredCalls() {
			if !seen[id] {
				t.Errorf("%s answered call %s beyond the 6 placed after the kill", n.id, id)
			}
		}
	}
	// The dead node answered its probes until it died, the others still do.
	states, err := proxy.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if st.Active() == (st.URI == "sip:"+dead.sipAddr) {
			t.Errorf("dispatcher state %+v after %s was killed", st, dead.id)
		}
	}
	t.Logf("calls after the kill done after %v; %d failed over", time.Since(start).Round(time.Millisecond),
		strings.Count(proxy.Log(), "failed over to node"))

	// The dead node's calls end node_lost once its lease has run out; the
	// others' held calls are ended by a client of yet another node.
	for _, id := range owners[dead] {
		got := waitCallEnded(t, alive[0].c, id, 15*time.Second)
		if reason := field(got, "call", "end_reason"); reason != "node_lost" {
			t.Errorf("call %s of the dead node ended %s", id, reason)
		}
	}
	for _, n := range alive {
		for _, id := range owners[n] {
			mustCall(t, others(alive, n)[0].c, "end_call", `{"call_id":"`+id+`"}`)
		}
	}
	// Every call ends, whoever held it (a hang-up is stored a moment
	// after its BYE is answered).
	for _, id := range callIDs {
		waitCallEnded(t, alive[0].c, id, 10*time.Second)
	}

	// Every stored event reaches the receiver, a delivery the dead node
	// had claimed included once its claim ran out; none twice under two
	// ids, and each lost call has its end-of-call-report once.
	evs := allDelivered(t, alive[0].c, hooks, callIDs)
	t.Logf("every stored event delivered %v after the kill", time.Since(killed).Round(time.Millisecond))
	checkOnce(t, evs)
	for _, id := range owners[dead] {
		reports := map[string]bool{}
		for _, e := range evs {
			if e.callID == id && e.event == "end-of-call-report" {
				reports[e.id] = true
			}
		}
		if len(reports) != 1 || !hasKey(evs, id+" status-update ended") {
			t.Errorf("lost call %s: %d end-of-call-reports, status-update ended: %v", id, len(reports), hasKey(evs, id+" status-update ended"))
		}
	}
	// And the store says so: a delivery the receiver got is recorded
	// delivered by the node that sent it, or, when that node died before
	// it could, sent again once its claim ran out.
	for deadline := time.Now().Add(30 * time.Second); ; {
		var left []string
		for _, id := range callIDs {
			for _, d := range storedDeliveries(t, alive[0].c, id) {
				if d["status"] != "delivered" {
					left = append(left, fmt.Sprintf("%v (call %s): %v", d["id"], id, d["status"]))
				}
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries never recorded delivered: %v", left)
		}
		time.Sleep(200 * time.Millisecond) // polling the outbox
	}
	t.Logf("done after %v", time.Since(start).Round(time.Millisecond))
}

// waitCallEnded polls get_call until the call has ended (another node's
// sweep of lost calls announces nothing to this client), and returns it.
func waitCallEnded(t *testing.T, c *client.Client, callID string, timeout time.Duration) toolResult {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := mustCall(t, c, "get_call", `{"id":"`+callID+`"}`)
		if field(got, "call", "ended_at") != "" {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("call %s never ended: %s", callID, got.json)
		}
		time.Sleep(100 * time.Millisecond) // polling get_call
	}
}

// receivedThrough reports whether sipp received a request of method with a
// Via of addr: it came through that proxy rather than straight from the
// node.
func receivedThrough(p *sipptest.Process, method, addr string) bool {
	for _, block := range strings.Split(p.Traces(), "message received")[1:] {
		if m := requestLine.FindStringSubmatch(block); m != nil && m[1] == method &&
			strings.Contains(block, "Via: SIP/2.0/UDP "+addr+";") {
			return true
		}
	}
	return false
}

var requestLine = regexp.MustCompile(`(?m)^\s*([A-Z]+) sips?:\S+ SIP/2\.0\s*$`)
