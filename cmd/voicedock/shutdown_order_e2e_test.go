package main

import (
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// TestShutdownOrderOnSIGTERM: SIGTERM stops the server in its one order:
// the listeners first (MCP, the owner socket, metrics), then SIP (the live
// call gets its BYE and is recorded ended), the calls, the webhook
// workers, and the store last, once nothing can write to it. The process
// exits 0.
func TestShutdownOrderOnSIGTERM(t *testing.T) {
	t.Parallel()
	url, logs, cmd := httpServerProcess(t, t.TempDir(), "VOICEDOCK_METRICS_ADDR=127.0.0.1:0", "VOICEDOCK_DEBUG_ADDR=127.0.0.1:0")
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: httpClient(t, url, nil), logs: logs, sipAddr: m[1], offset: off}
	line.configure(t, sipptest.FreePort(t))
	caller := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	logs.waitFor(t, regexp.MustCompile(`msg="mcp socket listening"`), 0, 20*time.Second)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	caller.Wait(t) // exits 0 only after our BYE
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, logs)
	}

	steps := []string{
		`msg="shutting down HTTP server"`,
		`msg="shutdown: stopped" component=mcp`,
		`msg="call ended" call_id=` + regexp.QuoteMeta(callID) + ` status=ended reason=server_shutdown`,
		`msg="SIP user agent stopped"`,
		`msg="shutdown: stopped" component=sip`,
		`msg="shutdown: stopped" component=calls`,
		`msg="shutdown: stopped" component=tasks`,
		`msg="webhook dispatcher stopping"`,
		`msg="shutdown: stopped" component=webhooks`,
		`msg="shutdown: stopped" component=store`,
		`msg="voicedock stopped"`,
	}
	at := 0
	for _, step := range steps {
		_, at = logs.waitFor(t, regexp.MustCompile(step), at, 10*time.Second)
	}
	// Each component stops once: no second shutdown ran beside the first.
	for _, c := range []string{"mcp", "sip", "calls", "tasks", "webhooks", "store"} {
		if n := strings.Count(logs.String(), `msg="shutdown: stopped" component=`+c+"\n"); n != 1 {
			t.Errorf("%s stopped %d times:\n%s", c, n, logs)
		}
	}
	// After "shutting down HTTP server" nothing of MCP is served: every
	// listener's shutdown comes before the MCP stage reports stopped.
	stopped := strings.Index(logs.String(), `component=mcp`)
	if n := strings.Count(logs.String()[:stopped], `msg="shutting down HTTP server"`); n != 3 {
		t.Errorf("%d HTTP servers (MCP, owner socket, metrics) shut down before the MCP stage stopped, want 3:\n%s", n, logs)
	}
}
