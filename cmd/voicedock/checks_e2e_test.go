package main

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// firstID returns the id of the first object a list tool returns.
func firstID(t *testing.T, c *client.Client, tool, key string) string {
	t.Helper()
	r := mustCall(t, c, tool, `{}`)
	list, _ := r.structured[key].([]any)
	if len(list) == 0 {
		t.Fatalf("%s: empty: %s", tool, r.json)
	}
	id, _ := list[0].(map[string]any)["id"].(string)
	return id
}

func health(r toolResult, path ...string) map[string]any {
	var v any = r.structured
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	h, _ := v.(map[string]any)
	return h
}

// TestTestTrunk probes a sipp trunk that challenges the OPTIONS with a
// digest, and a port where nothing listens.
func TestTestTrunk(t *testing.T) {
	t.Parallel()
	c, logs := stdioServer(t, t.TempDir(), "VOICEDOCK_TRUNK_PROBE_TIMEOUT=400ms")
	logs.waitFor(t, sipListening, 0, 20*time.Second)
	trunk := sipptest.Start(t, "uas_options.xml", "", sipptest.Options{}, "-set", "user", "acme", "-set", "pass", "opt-s3cret")
	tr := mustCall(t, c, "configure_trunk", `{"name":"Carrier","host":"127.0.0.1","port":`+strconv.Itoa(trunk.Port())+`,"username":"acme","password":"opt-s3cret"}`)
	id := field(tr, "trunk", "id")
	if h := health(mustCall(t, c, "get_trunk", `{"id":"`+id+`"}`), "trunk", "health"); h != nil {
		t.Errorf("health before any probe: %v", h)
	}
	r := mustCall(t, c, "test_trunk", `{"id":"`+id+`"}`)
	h := health(r, "health")
	if h["reachable"] != true || h["status"] != float64(200) || h["allows_refer"] != true || h["user_agent"] != "sipp-trunk" || h["error"] != "" {
		t.Fatalf("test_trunk: %s", r.json)
	}
	if rtt, _ := h["rtt_ms"].(float64); rtt <= 0 || !strings.Contains(field(r, "allow"), "REFER") {
		t.Errorf("test_trunk: %s", r.json)
	}
	trunk.Wait(t)
	got := health(mustCall(t, c, "get_trunk", `{"id":"`+id+`"}`), "trunk", "health")
	if got["status"] != float64(200) || got["checked_at"] == "" || got["checked_at"] != h["checked_at"] {
		t.Errorf("get_trunk health: %v", got)
	}
	list := mustCall(t, c, "list_trunks", `{}`)
	if lh := list.structured["trunks"].([]any)[0].(map[string]any)["health"]; lh == nil {
		t.Errorf("list_trunks without health: %s", list.json)
	}

	silent := mustCall(t, c, "configure_trunk", `{"name":"Silent","host":"127.0.0.1","port":`+strconv.Itoa(sipptest.FreePort(t))+`}`)
	start := time.Now()
	r = mustCall(t, c, "test_trunk", `{"id":"`+field(silent, "trunk", "id")+`"}`)
	h = health(r, "health")
	if h["reachable"] != false || h["status"] != float64(0) || !strings.Contains(h["error"].(string), "did not answer") {
		t.Fatalf("test_trunk of a silent port: %s", r.json)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the probe of a silent port took %s despite a 400ms timeout", d)
	}
	if r := call(t, c, "test_trunk", `{"id":"nope"}`); r.errorCode() != "not_found" {
		t.Errorf("test_trunk of an unknown trunk: %s", r.text)
	}
}

// TestTrunkProbedInBackground: with a probe interval the trunk's health
// appears without anyone asking.
func TestTrunkProbedInBackground(t *testing.T) {
	t.Parallel()
	c, logs := stdioServer(t, t.TempDir(), "VOICEDOCK_TRUNK_PROBE_INTERVAL=1s")
	logs.waitFor(t, sipListening, 0, 20*time.Second)
	trunk := sipptest.Start(t, "uas_options.xml", "", sipptest.Options{}, "-set", "auth", "none")
	tr := mustCall(t, c, "configure_trunk", `{"name":"Carrier","host":"127.0.0.1","port":`+strconv.Itoa(trunk.Port())+`}`)
	id := field(tr, "trunk", "id")
	logs.waitFor(t, regexp.MustCompile(`msg="trunk probed" trunk_id=`+regexp.QuoteMeta(id)+` status=200`), 0, 20*time.Second)
	trunk.Wait(t)
	h := health(mustCall(t, c, "get_trunk", `{"id":"`+id+`"}`), "trunk", "health")
	if h["reachable"] != true || h["status"] != float64(200) {
		t.Errorf("health after a background probe: %v", h)
	}
}

// TestTestDestinationDial places test calls: one answered (and hung up at
// once: the target sees our BYE), one busy; a refused destination is not
// dialled.
func TestTestDestinationDial(t *testing.T) {
	t.Parallel()
	t.Run("answered", func(t *testing.T) {
		target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "300")
		line := newPhoneLine(t, target.Port())
		assistant := firstID(t, line.c, "list_assistants", "assistants")
		r := mustCall(t, line.c, "test_destination", `{"destination":"`+salesNumber+`","assistant_id":"`+assistant+`","dial":true}`)
		call, _ := r.structured["call"].(map[string]any)
		if r.structured["allowed"] != true || call["outcome"] != "answered" || call["sip_status"] != float64(200) {
			t.Fatalf("test_destination: %s", r.json)
		}
		if ms, _ := call["ringing_ms"].(float64); ms < 250 {
			t.Errorf("ringing_ms %v, but the target rang 300 ms", ms)
		}
		if !strings.Contains(call["request_uri"].(string), "+31612345678@127.0.0.1:"+strconv.Itoa(target.Port())) {
			t.Errorf("request_uri: %v", call["request_uri"])
		}
		target.Wait(t) // it got our BYE
		if calls := mustCall(t, line.c, "list_calls", `{}`); len(calls.structured["calls"].([]any)) != 0 {
			t.Errorf("a test call left a call record: %s", calls.json)
		}
	})
	t.Run("busy", func(t *testing.T) {
		trunk := sipptest.Start(t, "uas_trunk_reject.xml", "", sipptest.Options{})
		line := newPhoneLine(t, trunk.Port())
		number := firstID(t, line.c, "list_phone_numbers", "numbers")
		r := mustCall(t, line.c, "test_destination", `{"destination":"`+salesNumber+`","phone_number_id":"`+number+`","dial":true}`)
		call, _ := r.structured["call"].(map[string]any)
		if call["outcome"] != "busy" || call["sip_status"] != float64(486) || call["number_id"] != number {
			t.Fatalf("test_destination: %s", r.json)
		}
		trunk.Wait(t)
	})
	t.Run("refused", func(t *testing.T) {
		line := newPhoneLine(t, sipptest.FreePort(t))
		assistant := firstID(t, line.c, "list_assistants", "assistants")
		r := mustCall(t, line.c, "test_destination", `{"destination":"+31909123456","assistant_id":"`+assistant+`","dial":true}`)
		if r.structured["allowed"] != false || r.structured["call"] != nil || !strings.Contains(r.text, "not dialled") {
			t.Fatalf("test_destination of a refused number: %s", r.json)
		}
		if r := call(t, line.c, "test_destination", `{"destination":"`+salesNumber+`","dial":true}`); r.errorCode() != "missing_field" || r.errorParam() != "phone_number_id" {
			t.Errorf("a test call with no number to go through: %s", r.text)
		}
	})
}

// scrape returns the text of /metrics.
func scrape(t *testing.T, url string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// waitMetrics scrapes until every line in want is in the output: the
// metrics follow the event bus, a moment behind the tool results.
func waitMetrics(t *testing.T, url string, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		_, body := scrape(t, url, nil)
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %q:\n%s", missing, body)
		}
		<-tick.C
	}
}

// TestTransferStatsAndMetrics drives transfers with known outcomes through
// sipp (two completed, one busy, one REFER declined) and checks
// transfer_stats and /metrics against them.
func TestTransferStatsAndMetrics(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{Calls: 2}, "-set", "ring_ms", "100")
	url, logs := httpServer(t, t.TempDir())
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	c := httpClient(t, url, nil)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	line.configureMessage(t, target.Port(), "") // four transfers: no message to wait through
	metricsURL := strings.TrimSuffix(url, "/mcp") + "/metrics"
	if code, body := scrape(t, metricsURL, nil); code != http.StatusOK || !strings.Contains(body, "voicedock_calls_live 0") {
		t.Fatalf("/metrics before any call: %d\n%s", code, body)
	}
	since := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)

	// Call 1: busy, then completed.
	caller := sipptest.Start(t, "uac_transfer_busy_then_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	if res, _ := transfer(t, c, callID, salesNumber); res.errorCode() != "transfer_failed" {
		t.Fatalf("busy transfer: %s", res.text)
	}
	if res, _ := transfer(t, c, callID, salesNumber); res.isError {
		t.Fatalf("second transfer: %s", res.text)
	}
	caller.Wait(t)
	// Call 2: completed; scraped mid-way, the live call shows.
	caller = sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID = line.answered(t)
	waitMetrics(t, metricsURL, "voicedock_calls_live 1")
	if res, _ := transfer(t, c, callID, salesNumber); res.isError {
		t.Fatalf("transfer: %s", res.text)
	}
	caller.Wait(t)
	target.Wait(t)
	// Call 3: the REFER is declined (603).
	caller = sipptest.Start(t, "uac_refer_reject.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID = line.answered(t)
	if res, _ := transfer(t, c, callID, salesNumber); res.errorCode() != "transfer_failed" {
		t.Fatalf("declined REFER: %s", res.text)
	}
	mustCall(t, c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)

	r := mustCall(t, c, "transfer_stats", `{"since":"`+since+`","group_by":"destination"}`)
	tot := r.structured["totals"].(map[string]any)
	if tot["calls"] != float64(3) || tot["transfers_attempted"] != float64(4) || tot["transfers_completed"] != float64(2) ||
		tot["transfers_failed"] != float64(2) || tot["success_rate"] != 0.5 {
		t.Fatalf("transfer_stats totals: %s", r.json)
	}
	if rate, _ := tot["transfer_rate"].(float64); rate < 1.33 || rate > 1.34 {
		t.Errorf("transfer_rate %v, want 4/3", rate)
	}
	p50, ok1 := tot["connect_time_p50_ms"].(float64)
	p95, ok2 := tot["connect_time_p95_ms"].(float64)
	if !ok1 || !ok2 || p50 < 100 || p95 < p50 {
		t.Errorf("connect times p50 %v p95 %v (the target rings 100 ms)", tot["connect_time_p50_ms"], tot["connect_time_p95_ms"])
	}
	failures := map[float64]float64{}
	for _, f := range tot["failures_by_status"].([]any) {
		f := f.(map[string]any)
		failures[f["sip_status"].(float64)] += f["count"].(float64)
	}
	if len(failures) != 2 || failures[486] != 1 || failures[603] != 1 {
		t.Errorf("failures_by_status: %v", tot["failures_by_status"])
	}
	groups := r.structured["groups"].([]any)
	if len(groups) != 1 || groups[0].(map[string]any)["key"] != salesNumber || groups[0].(map[string]any)["calls"] != float64(3) {
		t.Errorf("groups: %v", groups)
	}
	day := mustCall(t, c, "transfer_stats", `{"group_by":"day"}`)
	if g := day.structured["groups"].([]any); len(g) != 1 || g[0].(map[string]any)["key"] != time.Now().UTC().Format("2006-01-02") {
		t.Errorf("by day: %s", day.json)
	}
	if bad := call(t, c, "transfer_stats", `{"since":"yesterday"}`); bad.errorCode() != "invalid_request" || bad.errorParam() != "since" {
		t.Errorf("bad since: %s", bad.text)
	}

	body := waitMetrics(t, metricsURL,
		`voicedock_transfers_total{outcome="completed",sip_status="200"} 2`,
		`voicedock_transfers_total{outcome="failed",sip_status="486"} 1`,
		`voicedock_transfers_total{outcome="failed",sip_status="603"} 1`,
		`voicedock_calls_ended_total{end_reason="transferred",status="transferred"} 2`,
		`voicedock_calls_ended_total{end_reason="assistant_ended",status="ended"} 1`,
		`voicedock_mcp_tool_calls_total{outcome="ok",tool="transfer_call"} 2`,
		`voicedock_mcp_tool_calls_total{outcome="transfer_failed",tool="transfer_call"} 2`,
		`voicedock_transfer_duration_seconds_count{outcome="completed"} 2`,
		`voicedock_refer_first_response_seconds_count 4`,
		`voicedock_calls_live 0`,
	)
	for _, re := range []string{
		`voicedock_sip_messages_total\{direction="out",kind="request",method="REFER"\} 4`,
		// sipp may retransmit an INVITE on a loaded machine.
		`voicedock_sip_messages_total\{direction="in",kind="request",method="INVITE"\} [3-9]`,
		`voicedock_sip_messages_total\{direction="in",kind="request",method="NOTIFY"\} [1-9]`,
		`voicedock_sip_messages_total\{direction="in",kind="response",method="REFER"\} [3-9]`,
		`voicedock_transfer_step_seconds_count\{step="completed"\} 2`,
		`voicedock_mcp_tool_call_duration_seconds_bucket\{tool="transfer_call",le="\+Inf"\} 4`,
	} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("/metrics lacks %s", re)
		}
	}
	for _, leak := range []string{salesNumber, ourNumber, callID} {
		if strings.Contains(body, leak) {
			t.Errorf("/metrics carries %q in a label", leak)
		}
	}
}

// TestMetricsListener serves /metrics on a listener of its own, and with
// API keys configured asks scrapers for one.
func TestMetricsListener(t *testing.T) {
	t.Parallel()
	_, logs := stdioServer(t, t.TempDir(), "VOICEDOCK_METRICS_ADDR=127.0.0.1:0", "VOICEDOCK_API_KEYS=ops:"+testKey)
	m, _ := logs.waitFor(t, regexp.MustCompile(`msg="metrics listening" addr=(\S+)`), 0, 20*time.Second)
	url := "http://" + m[1] + "/metrics"
	if code, _ := scrape(t, url, nil); code != http.StatusUnauthorized {
		t.Errorf("scrape without a key: %d", code)
	}
	code, body := scrape(t, url, map[string]string{"Authorization": "Bearer " + testKey})
	if code != http.StatusOK || !strings.Contains(body, "voicedock_calls_live 0") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("scrape with a key: %d\n%s", code, body)
	}
}
