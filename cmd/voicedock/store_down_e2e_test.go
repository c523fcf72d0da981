package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

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
	cluster, hooks, env := postgresOfItsOwn(ctx, t)
	c, logs := stdioServer(t, t.TempDir(), env...)
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

	checkEndedOnce(t, c, hooks, callID)
}

// TestCallEndedWhilePostgresIsDownAndTheServerKilled: as above, but the
// server is killed before the database is back, with the call's end kept
// in its data directory only. The next start writes it: the call keeps
// its real end (not server_restart), and its status-update and
// end-of-call-report are delivered once.
func TestCallEndedWhilePostgresIsDownAndTheServerKilled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cluster, hooks, env := postgresOfItsOwn(ctx, t)
	dir := t.TempDir()
	url, logs, cmd := httpServerProcess(t, dir, env...)
	c := httpClient(t, url, nil)
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	line.configure(t, sipptest.FreePort(t))

	caller := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser, "-recv_timeout", "60000")
	callID := line.answered(t)
	if err := cluster.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	mustCall(t, c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
	// The end's write is tried for 10 s, then kept, and its file
	// written: the kill comes once the file holds the report.
	file := filepath.Join(dir, "kept", callID+".json")
	deadline := time.Now().Add(60 * time.Second)
	for b, _ := os.ReadFile(file); !bytes.Contains(b, []byte(core.WebhookEndOfCallReport)); b, _ = os.ReadFile(file) {
		if time.Now().After(deadline) {
			t.Fatalf("no file of the call's kept end in %s\n%s", file, logs)
		}
		time.Sleep(100 * time.Millisecond) // polling the file: the server has no event to wait on for it
	}
	kill(t, cmd.Process)
	cmd.Wait()
	if err := cluster.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	url2, logs2 := httpServer(t, dir, env...)
	logs2.waitFor(t, regexp.MustCompile(`the store took the state of a call the previous run kept[^\n]*call_id=`+callID), 0, 60*time.Second)
	checkEndedOnce(t, httpClient(t, url2, nil), hooks, callID)
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the kept file is left once the store took it: %v", err)
	}
}

// postgresOfItsOwn starts a PostgreSQL cluster for one test, which may
// stop it, and returns it with a webhook receiver and the server's
// environment for a database of it.
func postgresOfItsOwn(ctx context.Context, t *testing.T) (*pgtest.Cluster, *crashHooks, []string) {
	t.Helper()
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
	return cluster, hooks, []string{"VOICEDOCK_DATABASE_URL=" + cluster.NewDatabase(t),
		"VOICEDOCK_SECRET_KEY=" + base64.StdEncoding.EncodeToString(key), "VOICEDOCK_WEBHOOK_URL=" + hooks.srv.URL}
}

// checkEndedOnce checks that the call is stored ended by end_call, with
// one end-of-call-report, and that the receiver got its report and the
// status-update of its end once each.
func checkEndedOnce(t *testing.T, c *client.Client, hooks *crashHooks, callID string) {
	t.Helper()
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
