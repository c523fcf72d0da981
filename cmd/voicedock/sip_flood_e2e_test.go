package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/sip/sipptest"
)

var (
	floodDropped = regexp.MustCompile(`msg="SIP messages dropped" component=sip source=127\.0\.0\.2 rate_limited=(\d+)`)
	// sippCalls reads a counter ("Successful call", "Failed call") from
	// sipp's final screen: its cumulative column.
	sippCalls = func(name string) *regexp.Regexp {
		return regexp.MustCompile(regexp.QuoteMeta(name) + `\s+\|\s+\d+\s+\|\s+(\d+)`)
	}
)

// TestCallTransferredDuringFlood: 2,000 INVITEs in two seconds from
// 127.0.0.2, a source that is neither a trunk nor allowed, while a call
// from the trunk's host (127.0.0.1) comes in, is answered and transferred.
// The flood is dropped unanswered at the SIP rate limit (20/s, bursts of
// 40) but for what the bucket lets through, which the core refuses with
// 403. The flood's sipp sends each INVITE once and counts a call that got
// its 403 as successful, one that got nothing within a second as failed.
func TestCallTransferredDuringFlood(t *testing.T) {
	// Not parallel: its 1,000 INVITEs a second would starve the other tests.
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{})
	line := newPhoneLine(t, target.Port())

	const total = 2000
	screen := filepath.Join(t.TempDir(), "flood-screen.log")
	start := time.Now()
	flood := sipptest.Start(t, "uac_flood.xml", line.sipAddr, sipptest.Options{IP: "127.0.0.2", Calls: total, Timeout: 30 * time.Second},
		"-s", calledUser, "-r", "1000", "-l", strconv.Itoa(total), "-nr", "-trace_screen", "-screen_file", screen)
	// The flood is being dropped: call now.
	line.logs.waitFor(t, floodDropped, line.offset, 20*time.Second)
	caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	answeredAt := time.Since(start)
	res, steps := transfer(t, line.c, callID, salesNumber)
	if res.isError {
		t.Fatalf("transfer during the flood failed: %s", res.text)
	}
	checkProgress(t, steps, "completed", line.logs)
	transferredAt := time.Since(start)
	floodOn := false
	select {
	case <-flood.Done():
	default:
		floodOn = true
	}
	caller.Wait(t)
	target.Wait(t)
	_ = flood.Exit(t) // non-zero: the dropped INVITEs are failed calls
	elapsed := time.Since(start)
	status, reason := line.ended(t, callID)
	if status != "transferred" || reason != "transferred" {
		t.Errorf("call ended %s/%s", status, reason)
	}

	data, err := os.ReadFile(screen)
	if err != nil {
		t.Fatalf("sipp's screen: %v", err)
	}
	count := func(name string) int {
		m := sippCalls(name).FindAllStringSubmatch(string(data), -1)
		if m == nil {
			t.Fatalf("no %q on sipp's screen:\n%s", name, data)
		}
		n, _ := strconv.Atoi(m[len(m)-1][1])
		return n
	}
	answered, unanswered := count("Successful call"), count("Failed call")
	logs := line.logs.String()
	refused := strings.Count(logs, `msg="inbound call refused: source not allowed" source=127.0.0.2:`)
	allowed := 40 + int(elapsed.Seconds()*20) + 1
	t.Logf("flood: %d INVITEs from 127.0.0.2 in %s (sent in about 2 s); %d reached the core and were refused 403, %d got no answer (dropped); the call from 127.0.0.1 was answered at %s and transferred at %s, the flood still running: %v",
		total, elapsed.Round(time.Millisecond), refused, unanswered, answeredAt.Round(time.Millisecond), transferredAt.Round(time.Millisecond), floodOn)
	if answered+unanswered != total {
		t.Errorf("sipp counted %d answered and %d unanswered INVITEs, want %d in all", answered, unanswered, total)
	}
	if refused == 0 || refused > allowed || answered > refused {
		t.Errorf("%d INVITEs of the flood reached the core and %d were answered, want 1 to %d", refused, answered, allowed)
	}
	if n := len(floodDropped.FindAllString(logs, -1)); n != 1 {
		t.Errorf("%d drop warnings for 127.0.0.2 within a minute, want 1", n)
	}
	list := mustCall(t, line.c, "list_calls", `{}`)
	if n := list.structured["pagination"].(map[string]any)["total"]; n != float64(1) {
		t.Errorf("calls on record: %v, want only the transferred one", n)
	}
}

// TestMaxCallsOverSIP: with VOICEDOCK_MAX_CALLS=1 a second INVITE while a
// call is up gets 503 with Retry-After and leaves no record; once the call
// ends there is room again.
func TestMaxCallsOverSIP(t *testing.T) {
	t.Parallel()
	line := newPhoneLine(t, sipptest.FreePort(t), "VOICEDOCK_MAX_CALLS=1")
	first := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	second := sipptest.Start(t, "uac_expect_reject.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser,
		"-set", "expect", "503", "-set", "retry_after", "yes")
	second.Wait(t)
	line.logs.waitFor(t, regexp.MustCompile(`msg="inbound call refused: at the maximum of calls" component=sip max_calls=1`), 0, 5*time.Second)
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	first.Wait(t)
	third := sipptest.Start(t, "uac_call_hangup.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	line.answered(t)
	third.Wait(t)
	list := mustCall(t, line.c, "list_calls", `{}`)
	if n := list.structured["pagination"].(map[string]any)["total"]; n != float64(2) {
		t.Errorf("calls on record: %v, want the two answered ones", n)
	}
}
