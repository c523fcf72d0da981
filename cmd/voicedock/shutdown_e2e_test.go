package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// TestShutdownEndsCallsWithBye: SIGINT makes the server BYE its live
// calls (the sipp caller waits for that BYE) and record them as ended.
func TestShutdownEndsCallsWithBye(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	url, logs, cmd := httpServerProcess(t, dir)
	c := httpClient(t, url, nil)
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	line.configure(t, sipptest.FreePort(t))
	caller := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	caller.Wait(t) // exits 0 only after our BYE
	cmd.Wait()
	url2, _ := httpServer(t, dir)
	got := mustCall(t, httpClient(t, url2, nil), "get_call", `{"id":"`+callID+`"}`)
	if field(got, "call", "status") != "ended" || field(got, "call", "end_reason") != "server_shutdown" {
		t.Errorf("call after shutdown: %s", got.json)
	}
}

// TestDeadReceiverDoesNotSlowATransfer: with a webhook receiver that
// never answers, a transfer completes as fast as the SIP exchange allows.
func TestDeadReceiverDoesNotSlowATransfer(t *testing.T) {
	// Parallel: without a destination message the transfer takes a few
	// hundred milliseconds, far below the bound, even beside other tests.
	t.Parallel()
	block := make(chan struct{})
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	t.Cleanup(func() { close(block); dead.Close() })
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "50")
	line := newLineNoMessage(t, target.Port(), "VOICEDOCK_WEBHOOK_URL="+dead.URL, "VOICEDOCK_WEBHOOK_CONCURRENCY=1")
	caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	start := time.Now()
	res, _ := transfer(t, line.c, callID, salesNumber)
	elapsed := time.Since(start)
	if res.isError {
		t.Fatal(res.text)
	}
	// The receiver holds every request for the delivery timeout (10 s);
	// the transfer must not have waited for any of them.
	if elapsed > 5*time.Second {
		t.Errorf("transfer took %v with a dead webhook receiver", elapsed)
	}
	caller.Wait(t)
	target.Wait(t)
}
