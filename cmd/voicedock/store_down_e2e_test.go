package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/sip/sipptest"
	"github.com/voicedock/voicedock/store/postgres/pgtest"
)

// TestCallEndedWhilePostgresIsDown: a call is ended (end_call) while the
// server's PostgreSQL is stopped for longer than a write waits (a
// failover, a restart). The call's end, with its status-update and
// end-of-call-report, is written once the database is back, and each is
// delivered once. The test stops a cluster of its own: the one the other
// tests share would fail them.
func TestCallEndedWhilePostgresIsDown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cluster, err := pgtest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			t.Error(err)
		}
	})
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	hooks := newCrashHooks(t)
	c, logs := stdioServer(t, t.TempDir(), "VOICEDOCK_DATABASE_URL="+cluster.NewDatabase(t),
		"VOICEDOCK_SECRET_KEY="+base64.StdEncoding.EncodeToString(key), "VOICEDOCK_WEBHOOK_URL="+hooks.srv.URL)
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	line.configure(t, sipptest.FreePort(t))

	caller := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser, "-recv_timeout", "60000")
	callID := line.answered(t)
	from := len(logs.String())
	if err := cluster.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	// The call ends on the wire at once; its end's write is tried for
	// 10 s, then kept.
	mustCall(t, c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
	logs.waitFor(t, regexp.MustCompile(`the store did not take the call's state[^\n]*call_id=`+callID), from, 60*time.Second)
	if err := cluster.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	logs.waitFor(t, regexp.MustCompile(`the store took the call's state kept since it failed[^\n]*call_id=`+callID), from, 60*time.Second)

	got := mustCall(t, c, "get_call", `{"id":"`+callID+`"}`)
	if call := got.structured["call"].(map[string]any); call["status"] != core.CallEnded || call["end_reason"] != core.EndAssistantHangup {
		t.Fatalf("stored once the database is back: %s", got.json)
	}
	reports := 0
	for _, d := range storedDeliveries(t, c, callID) {
		if d["event_type"] == core.WebhookEndOfCallReport {
			reports++
		}
	}
	if reports != 1 {
		t.Fatalf("%d end-of-call-reports stored, want 1", reports)
	}
	evs := hooks.waitFor(t, "the end-of-call-report", 60*time.Second, func(evs []hookEvent) bool {
		for _, e := range evs {
			if e.callID == callID && e.event == core.WebhookEndOfCallReport {
				return true
			}
		}
		return false
	})
	checkOnce(t, evs)
	ended := 0
	for _, e := range evs {
		if e.callID == callID && e.event == core.WebhookStatusUpdate && e.status == core.CallEnded {
			ended++
		}
	}
	if ended != 1 {
		t.Errorf("%d status-updates of the end received, want 1", ended)
	}
}
