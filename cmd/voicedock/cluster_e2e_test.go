package main

import (
	"context"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/voicedock/voicedock/sip/kamailiotest"
	"github.com/voicedock/voicedock/sip/sipptest"
)

// proxiedNode is one voicedock node of a cluster test: its own process,
// SIP address and MCP endpoint.
type proxiedNode struct {
	name string
	c    *client.Client
	logs *syncBuffer
	cmd  *exec.Cmd
	sip  string // ip:port, its Contact and its entry in Kamailio's list
}

// Kamailio's probe interval and reply timeout in the cluster tests: a dead
// node is out within their sum.
const (
	proxyPing    = time.Second
	proxyTimeout = 500 * time.Millisecond
)

// startProxiedNode starts node i on its own loopback address 127.0.0.(11+i).
func startProxiedNode(t *testing.T, i int, env ...string) *proxiedNode {
	t.Helper()
	env = append([]string{
		"VOICEDOCK_SIP_ADDR=127.0.0." + strconv.Itoa(11+i) + ":0",
		// Behind Kamailio every call comes from its one address.
		"VOICEDOCK_SIP_RATE_LIMIT=0",
		"VOICEDOCK_CALL_COMMANDS_PER_MINUTE=0",
	}, env...)
	url, logs, cmd := httpServerProcess(t, t.TempDir(), env...)
	m, _ := logs.waitFor(t, sipListening, 0, 20*time.Second)
	return &proxiedNode{name: "node" + strconv.Itoa(i+1), c: httpClient(t, url, nil), logs: logs, cmd: cmd, sip: m[1]}
}

var proxiedAnswered = regexp.MustCompile(`msg="call answered" call_id=(\S+)`)

// answeredCalls are the ids of the calls the node answered so far.
func (n *proxiedNode) answeredCalls() map[string]bool {
	out := map[string]bool{}
	for _, m := range proxiedAnswered.FindAllStringSubmatch(n.logs.String(), -1) {
		out[m[1]] = true
	}
	return out
}

// nextProxiedAnswer waits for a call answered by any of the nodes that is not
// in seen, and returns the node and the call id.
func nextProxiedAnswer(t *testing.T, nodes []*proxiedNode, seen map[string]bool, timeout time.Duration) (*proxiedNode, string) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		changed := make([]<-chan struct{}, len(nodes))
		for i, n := range nodes {
			changed[i] = n.logs.changes()
			for id := range n.answeredCalls() {
				if !seen[id] {
					seen[id] = true
					return n, id
				}
			}
		}
		select {
		case <-changed[0]:
		case <-changed[1]:
		case <-changed[2]:
		case <-deadline:
			t.Fatalf("no node answered a new call within %v", timeout)
		}
	}
}

// TestClusterBehindKamailio runs three nodes behind Kamailio started from
// the shipped deploy/kamailio/kamailio.cfg, with sipp callers calling
// Kamailio only: new calls are spread over the nodes, every in-dialog
// request of a call (the caller's ACK and BYE and REFER's NOTIFYs, the
// node's REFER and BYE) reaches the other side through the proxy, a
// transfer completes, and when one node is SIGKILLed Kamailio takes it out
// of the rotation within its probe interval while the calls placed
// meanwhile are answered by the others.
func TestClusterBehindKamailio(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{Timeout: 60 * time.Second})
	nodes := make([]*proxiedNode, 3)
	for i := range nodes {
		nodes[i] = startProxiedNode(t, i)
	}
	for _, n := range nodes {
		line := &phoneLine{c: n.c, logs: n.logs, sipAddr: n.sip}
		line.configure(t, target.Port())
	}
	proxy := kamailiotest.Start(t, kamailiotest.Options{
		Addr:         net.JoinHostPort("127.0.0.1", strconv.Itoa(sipptest.FreePort(t))),
		Nodes:        []string{nodes[0].sip, nodes[1].sip, nodes[2].sip},
		PingInterval: int(proxyPing / time.Second),
		Timeout:      proxyTimeout,
	})
	seen := map[string]bool{}
	start := time.Now()

	// Spread: six calls that hang up themselves; each BYE must reach the
	// node that answered, through the proxy.
	callers := sipptest.Start(t, "uac_call_hangup.xml", proxy.Addr(), sipptest.Options{Calls: 6}, "-s", calledUser, "-d", "300", "-r", "10")
	callers.Wait(t)
	for _, n := range nodes {
		got := len(n.answeredCalls())
		if got == 0 {
			t.Errorf("%s answered none of the 6 calls", n.name)
		}
		for id := range n.answeredCalls() {
			seen[id] = true
		}
		t.Logf("%s answered %d calls", n.name, got)
	}

	// A transfer: the node's REFER and BYE go out through the proxy, the
	// caller's NOTIFYs come back through it.
	caller := sipptest.Start(t, "uac_transfer_ok.xml", proxy.Addr(), sipptest.Options{}, "-s", calledUser)
	owner, callID := nextProxiedAnswer(t, nodes, seen, 20*time.Second)
	res, steps := transfer(t, owner.c, callID, salesNumber)
	if res.isError {
		t.Fatalf("transfer on %s: %s", owner.name, res.text)
	}
	checkProgress(t, steps, "completed", owner.logs)
	caller.Wait(t)
	target.Wait(t)
	for _, method := range []string{"REFER", "BYE"} {
		if !receivedThrough(caller, method, proxy.Addr()) {
			t.Errorf("the caller's %s from %s did not come through Kamailio (no Via of %s)\n%s", method, owner.name, proxy.Addr(), caller.Traces())
		}
	}
	t.Logf("transfer done after %v", time.Since(start).Round(time.Millisecond))

	// A node dies. Calls held on every node first, then SIGKILL of one
	// that holds a call; the calls placed right after are answered by the
	// others, failing over from the dead node until the probes take it out.
	held := sipptest.Start(t, "uac_wait_bye.xml", proxy.Addr(), sipptest.Options{Calls: 3}, "-s", calledUser, "-r", "10", "-recv_timeout", "30000")
	owners := map[*proxiedNode][]string{}
	for range 3 {
		n, id := nextProxiedAnswer(t, nodes, seen, 20*time.Second)
		owners[n] = append(owners[n], id)
	}
	var dead *proxiedNode
	for _, n := range nodes {
		if len(owners[n]) > 0 {
			dead = n
			break
		}
	}
	kill(t, dead.cmd.Process)
	killed := time.Now()
	after := sipptest.Start(t, "uac_call_hangup.xml", proxy.Addr(), sipptest.Options{Calls: 6}, "-s", calledUser, "-d", "200", "-r", "4")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := proxy.WaitNode(ctx, dead.sip, false); err != nil {
		t.Fatal(err)
	}
	out := time.Since(killed)
	t.Logf("%s killed; out of the rotation after %v", dead.name, out.Round(time.Millisecond))
	if limit := proxyPing + proxyTimeout + 500*time.Millisecond; out > limit {
		t.Errorf("%s left the rotation after %v, want within the probe interval and timeout (%v)", dead.name, out, limit)
	}
	after.Wait(t)
	// Every call placed after the kill was answered, by the others; the
	// dead node's probes were answered until it died, the others' still are.
	fresh := 0
	for _, n := range nodes {
		if n == dead {
			continue
		}
		for id := range n.answeredCalls() {
			if !seen[id] {
				fresh++
			}
		}
	}
	if fresh != 6 {
		t.Errorf("the nodes still up answered %d of the 6 calls placed after the kill", fresh)
	}
	states, err := proxy.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if st.Active() == (st.URI == "sip:"+dead.sip) {
			t.Errorf("dispatcher state %+v after %s was killed", st, dead.name)
		}
	}
	t.Logf("calls after the kill done after %v; %d failed over", time.Since(start).Round(time.Millisecond),
		strings.Count(proxy.Log(), "failed over to node"))
	// The calls held on the nodes still up end as any call does.
	for n, ids := range owners {
		if n == dead {
			continue
		}
		for _, id := range ids {
			mustCall(t, n.c, "end_call", `{"call_id":"`+id+`"}`)
		}
	}
	_ = held
	t.Logf("done after %v", time.Since(start).Round(time.Millisecond))
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
