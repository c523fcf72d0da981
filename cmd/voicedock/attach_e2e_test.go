package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/sip/sipptest"
)

var (
	socketListening = regexp.MustCompile(`msg="mcp socket listening"`)
	attaching       = regexp.MustCompile(`msg="attaching to the voicedock process that owns the data directory" pid=(\d+)`)
)

// ownerProc is a stdio server whose pipes the test holds itself, so that it
// can close the client's side of stdio without the MCP client's shutdown
// sequence (which ends in SIGTERM), or kill the process.
type ownerProc struct {
	c      *client.Client
	logs   *syncBuffer
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{}
	err    error // the process's exit, once exited is closed
}

func startOwner(t *testing.T, dataDir string, env ...string) *ownerProc {
	t.Helper()
	p := &ownerProc{logs: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(binary, "serve", "--transport", "stdio")
	p.cmd.Env = baseEnv(dataDir, env...)
	p.cmd.Stderr = p.logs
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		<-p.exited
	})
	p.c = client.NewClient(transport.NewIO(stdout, p.stdin, io.NopCloser(strings.NewReader(""))), client.WithProtocolVersion("2025-11-25"))
	if err := p.c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	initialize(t, p.c, p.logs)
	p.logs.waitFor(t, socketListening, 0, 20*time.Second)
	return p
}

// closeStdio is the owner's client going away: its end of stdin closes.
func (p *ownerProc) closeStdio(t *testing.T) {
	t.Helper()
	if err := p.stdin.Close(); err != nil {
		t.Fatal(err)
	}
}

func (p *ownerProc) waitExit(t *testing.T) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(30 * time.Second):
		t.Fatalf("the owner did not exit; log:\n%s", p.logs)
		return nil
	}
}

// attached starts a second stdio server on dataDir and checks it attached
// to the owner rather than opening the store.
func attached(t *testing.T, version, dataDir string, env ...string) (*client.Client, *syncBuffer) {
	t.Helper()
	c, logs := stdioServerVersion(t, version, dataDir, env...)
	logs.waitFor(t, attaching, 0, 10*time.Second)
	if strings.Contains(logs.String(), "sip listening") {
		t.Fatalf("the attached process started SIP:\n%s", logs)
	}
	return c, logs
}

// notifications collects a client's notifications of one method.
type notifications struct {
	mu      sync.Mutex
	got     []mcp.JSONRPCNotification
	changed chan struct{}
}

func collect(c *client.Client, method string) *notifications {
	n := &notifications{changed: make(chan struct{})}
	c.OnNotification(func(m mcp.JSONRPCNotification) {
		if m.Method != method {
			return
		}
		n.mu.Lock()
		n.got = append(n.got, m)
		close(n.changed)
		n.changed = make(chan struct{})
		n.mu.Unlock()
	})
	return n
}

// waitFor waits for a notification whose JSON contains s.
func (n *notifications) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		n.mu.Lock()
		for _, m := range n.got {
			if b, _ := json.Marshal(m); strings.Contains(string(b), s) {
				n.mu.Unlock()
				return
			}
		}
		changed := n.changed
		n.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no notification with %q", s)
		}
	}
}

// TestTwoStdioClientsShareOneOwner: a second stdio server on a data dir
// attaches to the first. Both list the tools; a call placed by sipp is seen
// by both (and a third, subscribed to the live calls, hears of it on its
// GET stream, outside any request); the owner's client leaves, and with
// VOICEDOCK_KEEP_RUNNING the call stays up; a transfer started from the
// attached client reports its progress to that client.
func TestTwoStdioClientsShareOneOwner(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "100")
	own := startOwner(t, dir, "VOICEDOCK_KEEP_RUNNING=true")
	second, secondLogs := attached(t, "2025-11-25", dir)
	if m, _ := secondLogs.waitFor(t, attaching, 0, time.Second); m[1] != strconv.Itoa(own.cmd.Process.Pid) {
		t.Errorf("attached to pid %s, the owner is %d", m[1], own.cmd.Process.Pid)
	}

	for name, c := range map[string]*client.Client{"owner": own.c, "attached": second} {
		res, err := c.ListTools(t.Context(), mcp.ListToolsRequest{})
		if err != nil || len(res.Tools) < len(wantTools()) {
			t.Fatalf("%s: tools/list: %v", name, err)
		}
	}

	// A third client subscribes to the live calls: their updates reach it
	// on the session's GET stream, outside any request.
	third, _ := attached(t, "2025-11-25", dir)
	updates := collect(third, "notifications/resources/updated")
	//lint:ignore SA1019 the session-based protocol (2025-11-25) that clients speak today subscribes this way
	if err := third.Subscribe(t.Context(), mcp.SubscribeRequest{Params: mcp.SubscribeParams{URI: "voicedock://calls"}}); err != nil {
		t.Fatal(err)
	}
	m, off := own.logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: second, logs: own.logs, sipAddr: m[1], offset: off}
	line.configure(t, target.Port())
	caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	updates.waitFor(t, "voicedock://calls")
	for name, c := range map[string]*client.Client{"owner": own.c, "attached": second} {
		if s := callStatus(t, c, callID); s != "in-progress" {
			t.Errorf("%s sees the call %s", name, s)
		}
	}

	own.closeStdio(t)
	own.logs.waitFor(t, regexp.MustCompile(`the stdio client has gone; serving attached clients`), 0, 20*time.Second)
	if s := callStatus(t, second, callID); s != "in-progress" {
		t.Fatalf("after the owner's client left, the call is %s", s)
	}
	res, steps := transfer(t, second, callID, salesNumber)
	if res.isError {
		t.Fatalf("transfer from the attached client: %s\nowner log:\n%s", res.text, own.logs)
	}
	checkProgress(t, steps, "completed", own.logs)
	caller.Wait(t)
	target.Wait(t)
	select {
	case <-own.exited:
		t.Fatalf("the keep-running owner exited: %v", own.err)
	default:
	}
}

// TestOwnerLeavesWithoutKeepRunning: without keep-running, the owner ends
// when its client leaves (its calls ended with BYE, exit 0), and the
// attached bridge says the owner is gone and exits rather than hang.
func TestOwnerLeavesWithoutKeepRunning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	own := startOwner(t, dir)
	second, secondLogs := attached(t, "2025-11-25", dir)
	m, off := own.logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: second, logs: own.logs, sipAddr: m[1], offset: off}
	line.configure(t, sipptest.FreePort(t))
	caller := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	line.answered(t)

	own.closeStdio(t)
	if err := own.waitExit(t); err != nil {
		t.Fatalf("owner exit: %v\n%s", err, own.logs)
	}
	caller.Wait(t) // the call was ended with BYE
	secondLogs.waitFor(t, regexp.MustCompile(`voicedock: the voicedock server owning \S+ \(pid \d+\) (stopped answering|ended this session|has exited)`), 0, 20*time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := second.ListTools(ctx, mcp.ListToolsRequest{}); err == nil {
		t.Error("tools/list through a bridge whose owner is gone succeeded")
	} else if errors.Is(err, context.DeadlineExceeded) {
		t.Error("tools/list through a bridge whose owner is gone hung")
	}
}

// TestOwnerKilled: SIGKILL the owner while a transfer started from an
// attached client is in flight. The request gets a JSON-RPC error saying
// the owner stopped answering, the bridge exits with the same on stderr,
// and the next start takes the lock (and the stale socket) over, with the
// store intact.
func TestOwnerKilled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	own := startOwner(t, dir, "VOICEDOCK_TRANSFER_TIMEOUT=60s")
	second, secondLogs := attached(t, "2025-11-25", dir)
	m, off := own.logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: second, logs: own.logs, sipAddr: m[1], offset: off}
	line.configure(t, sipptest.FreePort(t))
	sipptest.Start(t, "uac_transfer_no_final.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	errc := make(chan error, 1)
	go func() {
		req := mcp.CallToolRequest{}
		req.Params.Name = "transfer_call"
		req.Params.Arguments = map[string]any{"call_id": callID, "destination": salesNumber}
		_, err := second.CallTool(t.Context(), req)
		errc <- err
	}()
	own.logs.waitFor(t, regexp.MustCompile(`msg="REFER answered"`), off, 20*time.Second)
	if err := own.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	own.waitExit(t)
	select {
	case err := <-errc:
		if err == nil || !regexp.MustCompile(`stopped answering|has exited`).MatchString(err.Error()) {
			t.Errorf("transfer in flight when the owner died: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the request in flight hung after the owner was killed")
	}
	secondLogs.waitFor(t, regexp.MustCompile(`voicedock: the voicedock server owning .* (stopped answering|has exited)`), 0, 20*time.Second)

	// The socket file is still there; the next process owns the directory.
	if _, err := os.Stat(dir + "/voicedock.sock"); err != nil {
		t.Fatalf("the killed owner's socket: %v", err)
	}
	next := startOwner(t, dir)
	got := mustCall(t, next.c, "get_call", `{"id":"`+callID+`"}`)
	if field(got, "call", "status") != "ended" {
		t.Errorf("the killed owner's call after the restart: %s", got.json)
	}
	third, _ := attached(t, "2025-11-25", dir)
	list := mustCall(t, third, "list_assistants", `{}`)
	if !strings.Contains(string(list.json), "Front desk") {
		t.Errorf("the store lost the assistant: %s", list.json)
	}
}

// TestAttachModernProtocol: a client on the 2026-07-28 protocol (no
// session: the version in each message's _meta and the Mcp-Protocol-Version,
// Mcp-Method and Mcp-Name headers) works through the bridge: transfers and
// their progress, and a subscriptions/listen stream.
func TestAttachModernProtocol(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "50")
	own := startOwner(t, dir)
	c, _ := attached(t, "", dir)
	m, off := own.logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: own.logs, sipAddr: m[1], offset: off}
	line.configure(t, target.Port())
	// A subscriptions/listen stream (a long POST) passes through too.
	changes := collect(c, "notifications/resources/list_changed")
	stop, err := c.ListenAsync(t.Context(), mcp.SubscriptionFilter{ResourcesListChanged: true}, func(err error) { t.Errorf("listen: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	changes.waitFor(t, "list_changed")
	res, steps := transfer(t, c, callID, salesNumber)
	if res.isError {
		t.Fatal(res.text)
	}
	checkProgress(t, steps, "completed", own.logs)
	caller.Wait(t)
	target.Wait(t)
}

// TestConnectRemoteWithKey: VOICEDOCK_CONNECT attaches a stdio client to a
// voicedock HTTP server, with VOICEDOCK_CONNECT_KEY as its bearer key; a
// wrong key is refused with a clear error.
func TestConnectRemoteWithKey(t *testing.T) {
	t.Parallel()
	url, _ := httpServer(t, t.TempDir(), "VOICEDOCK_API_KEYS=ops:"+testKey)
	c, logs := stdioServerVersion(t, "2025-11-25", t.TempDir(), "VOICEDOCK_CONNECT="+url, "VOICEDOCK_CONNECT_KEY="+testKey)
	res, err := c.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil || len(res.Tools) < len(wantTools()) {
		t.Fatalf("tools/list through VOICEDOCK_CONNECT: %v", err)
	}
	a := mustCall(t, c, "create_assistant", `{"name":"Remote"}`)
	if field(a, "assistant", "name") != "Remote" {
		t.Errorf("create through VOICEDOCK_CONNECT: %s", a.json)
	}
	if strings.Contains(logs.String(), "sip listening") {
		t.Error("the connecting process started SIP")
	}

	stderr := &syncBuffer{}
	tr := transport.NewStdioWithOptions(binary, baseEnv(t.TempDir(), "VOICEDOCK_CONNECT="+url, "VOICEDOCK_CONNECT_KEY=wrong-key-0000000000"),
		[]string{"serve", "--transport", "stdio"}, transport.WithCommandStderrWriter(stderr))
	if err := tr.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	bad := client.NewClient(tr, client.WithProtocolVersion("2025-11-25"))
	t.Cleanup(func() { bad.Close() })
	if err := bad.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = "2025-11-25"
	req.Params.ClientInfo = mcp.Implementation{Name: "voicedock-e2e", Version: "1"}
	_, err = bad.Initialize(ctx, req)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("initialize with a wrong key: %v", err)
	}
}

// TestProgressThroughBridge runs transfers in a row from an attached
// client and checks every transfer's progress notifications reached it
// before the result. On 2025-11-25 the bridge holds the session's GET
// stream open, and mcp-go hands a notification to whichever of the
// session's streams reads first; the owner's per-session delivery tracker
// holds the result until they are written.
func TestProgressThroughBridge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version string
		n       int
	}{{"2025-11-25", 30}, {"", 15}} {
		t.Run("protocol="+tc.version, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{Calls: tc.n, Timeout: 120e9}, "-set", "ring_ms", "20")
			own := startOwner(t, dir)
			c, _ := attached(t, tc.version, dir)
			m, off := own.logs.waitFor(t, sipListening, 0, 20*time.Second)
			line := &phoneLine{c: c, logs: own.logs, sipAddr: m[1], offset: off}
			line.configureMessage(t, target.Port(), "") // many transfers: no message to wait through
			caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{Calls: tc.n, Timeout: 120e9}, "-s", calledUser, "-l", "1")
			for i := range tc.n {
				callID := line.answered(t)
				res, steps := transfer(t, c, callID, salesNumber)
				if res.isError {
					t.Fatalf("transfer %d: %s", i, res.text)
				}
				checkProgress(t, steps, "completed", own.logs)
			}
			caller.Wait(t)
			target.Wait(t)
		})
	}
}

// TestElicitationThroughBridge: the owner asks the attached client to
// confirm an ad-hoc destination (elicitation/create, a server-to-client
// request on the POST's stream); the client's answer goes back through the
// bridge and the transfer goes ahead.
func TestElicitationThroughBridge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "50")
	own := startOwner(t, dir)
	e := &elicitor{answer: answerWith(mcp.ElicitationResponseActionAccept, map[string]any{"confirm": true})}
	stderr := &syncBuffer{}
	tr := transport.NewStdioWithOptions(binary, baseEnv(dir), []string{"serve", "--transport", "stdio"},
		transport.WithCommandStderrWriter(stderr))
	if err := tr.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr, client.WithProtocolVersion("2025-11-25"), client.WithElicitationHandler(e))
	t.Cleanup(func() { c.Close() })
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	initialize(t, c, stderr)
	stderr.waitFor(t, attaching, 0, 10*time.Second)

	m, off := own.logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: own.logs, sipAddr: m[1], offset: off}
	line.configure(t, target.Port())
	caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	res, steps := transfer(t, c, callID, adhocNumber)
	if res.isError {
		t.Fatalf("confirmed transfer through the bridge: %s\nowner log:\n%s", res.text, own.logs)
	}
	checkProgress(t, steps, "completed", own.logs)
	if qs := e.questions(); len(qs) != 1 || !strings.Contains(qs[0].Message, adhocNumber) {
		t.Errorf("asked %v", qs)
	}
	caller.Wait(t)
	target.Wait(t)
}

// TestAttachToHTTPOwner: a server run as `serve --transport http` owns its
// data directory too, and a stdio server started on it attaches over the
// socket (no API key: the socket is the user's own); a second http server
// on it refuses to start.
func TestAttachToHTTPOwner(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, logs := httpServer(t, dir, "VOICEDOCK_API_KEYS=ops:"+testKey)
	logs.waitFor(t, socketListening, 0, 20*time.Second)
	c, _ := attached(t, "2025-11-25", dir)
	a := mustCall(t, c, "create_assistant", `{"name":"Through the socket"}`)
	if field(a, "assistant", "name") != "Through the socket" {
		t.Errorf("create through the socket: %s", a.json)
	}
	if info, err := os.Stat(dir + "/voicedock.sock"); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("socket: %v, mode %v", err, info.Mode())
	}

	cmd := exec.Command(binary, "serve", "--transport", "http", "--http-addr", "127.0.0.1:0")
	cmd.Env = baseEnv(dir)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by another voicedock process") {
		t.Errorf("a second http server on an owned dir: %v\n%s", err, out)
	}
}
