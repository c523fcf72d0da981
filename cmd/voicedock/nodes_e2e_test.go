package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// clusterNode is one voicedock process of several sharing a store.
type clusterNode struct {
	id, url, dataDir, sipAddr string
	logs                      *syncBuffer
	cmd                       *exec.Cmd
	c                         *client.Client
	sipOffset                 int
}

// clusterNodeKey is the key the nodes of a test cluster call each other
// with.
const clusterNodeKey = "node-key-for-the-e2e-cluster-0123"

// freeTCPPort returns a loopback TCP port free a moment ago: a node's MCP
// URL must be known before it starts, for VOICEDOCK_NODE_URL.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startClusterNode starts `voicedock serve --transport http` as node id,
// with a data directory of its own; env names the database the nodes
// share (sharedDatabase).
func startClusterNode(t *testing.T, id string, env ...string) *clusterNode {
	t.Helper()
	n := &clusterNode{id: id, dataDir: t.TempDir(), logs: &syncBuffer{}}
	addr := "127.0.0.1:" + strconv.Itoa(freeTCPPort(t))
	n.url = "http://" + addr + "/mcp"
	n.cmd = exec.Command(binary, "serve", "--transport", "http", "--http-addr", addr)
	n.cmd.Env = baseEnv(n.dataDir, append([]string{
		"VOICEDOCK_NODE_ID=" + id,
		"VOICEDOCK_NODE_URL=" + n.url,
		"VOICEDOCK_NODE_KEY=" + clusterNodeKey,
		// Many requests per test, from one anonymous client.
		"VOICEDOCK_RATE_LIMIT_PER_MINUTE=0",
	}, env...)...)
	pr, pw := io.Pipe()
	n.cmd.Stderr = pw
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.cmd.Process.Signal(os.Interrupt)
		n.cmd.Wait()
		pw.Close()
		// The binary is built with -race: a race in a node fails its test.
		if strings.Contains(n.logs.String(), "WARNING: DATA RACE") {
			t.Errorf("node %s raced:\n%s", id, n.logs)
		}
	})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			n.logs.Write([]byte(sc.Text() + "\n"))
		}
	}()
	n.logs.waitFor(t, listeningAddr, 0, 20*time.Second)
	m, off := n.logs.waitFor(t, sipListening, 0, 20*time.Second)
	n.sipAddr, n.sipOffset = m[1], off
	n.c = httpClientVersion(t, n.url, "2025-11-25", nil)
	return n
}

// line is the phone line of the node that holds the calls: its client
// configures the number and sees the calls answered.
func (n *clusterNode) line(t *testing.T) *phoneLine {
	return &phoneLine{c: n.c, logs: n.logs, sipAddr: n.sipAddr, offset: n.sipOffset}
}

var carried = regexp.MustCompile(`msg="tool call carried to the node holding the call" tool=transfer_call node=node-a`)

// TestTransferRequestedOnAnotherNode: a call held by node A is
// transferred by a client of node B; B carries each transfer_call to A,
// and B's client gets A's progress and result: a busy target's
// transfer_failed with its SIP status, then a completed transfer, with
// the steps in order. end_call for the call, once it has ended, is
// refused as on A.
func TestTransferRequestedOnAnotherNode(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "100")
	db := sharedDatabase(t)
	a := startClusterNode(t, "node-a", db...)
	b := startClusterNode(t, "node-b", db...)
	line := a.line(t)
	line.configure(t, target.Port())
	caller := sipptest.Start(t, "uac_transfer_busy_then_ok.xml", a.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	res, steps := transfer(t, b.c, callID, salesNumber)
	if !res.isError || res.errorCode() != "transfer_failed" || !strings.Contains(res.text, "busy") {
		t.Fatalf("busy transfer through node B: %s\nB's log:\n%s", res.text, b.logs)
	}
	if e := res.structured["error"].(map[string]any); e["sip_status"] != float64(486) {
		t.Errorf("busy transfer error on B: %v", e)
	}
	checkProgress(t, steps, "failed", b.logs)
	b.logs.waitFor(t, carried, 0, 5*time.Second)
	res, steps = transfer(t, b.c, callID, salesNumber)
	if res.isError {
		t.Fatalf("second transfer through node B: %s", res.text)
	}
	checkProgress(t, steps, "completed", b.logs)
	caller.Wait(t)
	target.Wait(t)
	line.ended(t, callID)
	got := mustCall(t, b.c, "get_call", `{"id":"`+callID+`"}`)
	transfers := got.structured["call"].(map[string]any)["transfers"].([]any)
	if len(transfers) != 2 || transfers[0].(map[string]any)["status"] != "failed" || transfers[1].(map[string]any)["status"] != "completed" {
		t.Errorf("transfers on record, read on B: %s", got.json)
	}
	if by := transfers[1].(map[string]any)["requested_by"]; by != "anonymous" {
		t.Errorf("requested_by %v: the client's actor, not the node's, asked for it", by)
	}
	if r := call(t, b.c, "end_call", `{"call_id":"`+callID+`"}`); r.errorCode() != "call_not_active" {
		t.Errorf("end_call of the ended call on B: %s", r.text)
	}
	if strings.Contains(a.logs.String()+b.logs.String(), clusterNodeKey) {
		t.Error("the node key appears in a log")
	}
}

// TestKilledNodeCallsEndNodeLost: node A holds a call and is killed
// (SIGKILL); once its lease runs out node B records the call ended with
// node_lost, stores its final status-update and end-of-call-report once,
// and delivers them; a transfer asked of B for it is refused with
// call_not_active.
func TestKilledNodeCallsEndNodeLost(t *testing.T) {
	t.Parallel()
	hooks := newCrashHooks(t)
	env := append(sharedDatabase(t), "VOICEDOCK_NODE_LEASE=1s", "VOICEDOCK_WEBHOOK_URL="+hooks.srv.URL)
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{})
	a := startClusterNode(t, "node-a", env...)
	b := startClusterNode(t, "node-b", env...)
	line := a.line(t)
	line.configure(t, target.Port())
	sipptest.Start(t, "uac_wait_bye.xml", a.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	// What A stored it delivers, and records delivered, first: a delivery
	// A had claimed when it died would wait for its claim to run out (the
	// dispatcher's business, not this test's), holding the call's later
	// events back.
	for deadline := time.Now().Add(10 * time.Second); ; {
		done := 0
		list := storedDeliveries(t, a.c, callID)
		for _, d := range list {
			if d["status"] == "delivered" {
				done++
			}
		}
		if len(list) == 2 && done == 2 { // ringing, in-progress
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A's deliveries of the call: %v", list)
		}
		time.Sleep(50 * time.Millisecond) // polling the outbox
	}

	kill(t, a.cmd.Process)
	a.cmd.Wait()
	// Until its lease runs out the dead node still owns the call: B tries
	// it, and says it could not be reached.
	if r := call(t, b.c, "transfer_call", `{"call_id":"`+callID+`","destination":"`+salesNumber+`"}`); r.errorCode() != "unavailable" && r.errorCode() != "call_not_active" {
		t.Fatalf("transfer of a dead node's call on B: %s", r.text)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := mustCall(t, b.c, "get_call", `{"id":"`+callID+`"}`)
		if field(got, "call", "status") == "ended" {
			if reason := field(got, "call", "end_reason"); reason != "node_lost" {
				t.Fatalf("dead node's call ended %s", reason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead node's call never ended: %s\nB's log:\n%s", got.json, b.logs)
		}
		time.Sleep(50 * time.Millisecond) // polling get_call; the sweep is the event
	}
	if r := call(t, b.c, "transfer_call", `{"call_id":"`+callID+`","destination":"`+salesNumber+`"}`); r.errorCode() != "call_not_active" {
		t.Fatalf("transfer of a lost call on B: %s", r.text)
	}
	events := map[string]int{}
	for _, d := range storedDeliveries(t, b.c, callID) {
		events[d["event_type"].(string)]++
	}
	// ringing, in-progress (A), ended (B); one report (B).
	if events["status-update"] != 3 || events["end-of-call-report"] != 1 {
		t.Errorf("stored deliveries of the lost call: %v", events)
	}
	evs := hooks.waitFor(t, "the lost call's end-of-call-report", 20*time.Second, func(evs []hookEvent) bool {
		for _, e := range evs {
			if e.callID == callID && e.event == "end-of-call-report" {
				return true
			}
		}
		return false
	})
	checkOnce(t, evs)
}

// TestAdhocTransferConfirmedOnAnotherNode: a client of node B asks for a
// transfer to a destination the assistant does not list, of a call node
// A holds; A's question reaches B's client (elicitation/create, relayed
// by B), the user says yes, and A transfers the caller.
func TestAdhocTransferConfirmedOnAnotherNode(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "100")
	db := sharedDatabase(t)
	a := startClusterNode(t, "node-a", db...)
	b := startClusterNode(t, "node-b", db...)
	line := a.line(t)
	line.configure(t, target.Port())
	e := &elicitor{answer: answerWith(mcp.ElicitationResponseActionAccept, map[string]any{"confirm": true})}
	tr, err := transport.NewStreamableHTTP(b.url)
	if err != nil {
		t.Fatal(err)
	}
	asking := client.NewClient(tr, client.WithProtocolVersion("2025-11-25"), client.WithElicitationHandler(e))
	if err := asking.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { asking.Close() })
	initialize(t, asking, b.logs)
	caller := sipptest.Start(t, "uac_transfer_ok.xml", a.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	res, steps := transfer(t, asking, callID, adhocNumber)
	if res.isError {
		t.Fatalf("confirmed transfer through node B: %s\nA's log:\n%s", res.text, a.logs)
	}
	checkProgress(t, steps, "completed", b.logs)
	if qs := e.questions(); len(qs) != 1 || !strings.Contains(qs[0].Message, adhocNumber) {
		t.Fatalf("asked %v", qs)
	}
	caller.Wait(t)
	target.Wait(t)
	if tr := lastTransfer(t, line, callID); tr["status"] != "completed" || tr["confirmed_by"] != "elicitation" {
		t.Errorf("transfer on record: %v", tr)
	}
}

// TestTaskTransferCancelledOnAnotherNode: a client of node B runs a
// transfer of node A's call as a task, sees its steps in the task's
// status, and cancels it: A cancels the transfer, and the caller stays.
func TestTaskTransferCancelledOnAnotherNode(t *testing.T) {
	t.Parallel()
	db := sharedDatabase(t)
	a := startClusterNode(t, "node-a", db...)
	b := startClusterNode(t, "node-b", db...)
	line := a.line(t)
	line.configure(t, sipptest.FreePort(t))
	caller := sipptest.Start(t, "uac_transfer_no_final.xml", a.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	task := callAsTask(t, b.c, "2025-11-25", "transfer_call", map[string]any{"call_id": callID, "destination": salesNumber})
	waitForStep(t, b.c, task.TaskId, "transfer to "+salesNumber+": trying")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req := mcp.CancelTaskRequest{}
	req.Params.TaskId = task.TaskId
	if res, err := b.c.CancelTask(ctx, req); err != nil || res.Task.Status != mcp.TaskStatusCancelled {
		t.Fatalf("tasks/cancel on B: %+v %v", res, err)
	}
	a.logs.waitFor(t, regexp.MustCompile(`msg="transfer step" call_id=`+regexp.QuoteMeta(callID)+` .*status=canceled`), 0, 20*time.Second)
	got := mustCall(t, b.c, "get_call", `{"id":"`+callID+`"}`)
	tr := got.structured["call"].(map[string]any)["transfers"].([]any)[0].(map[string]any)
	if s := field(got, "call", "status"); s != "in-progress" || tr["status"] != "canceled" {
		t.Fatalf("after the task cancelled on B the call is %s, its transfer %v", s, tr)
	}
	mustCall(t, b.c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
}
