package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/sip/sipptest"
)

const readOnlyKey = "r-8c2e6a4f1d9b7305e1"

// TestReadKeyCannotTransfer: over HTTP a read key sees no writing tools,
// and its transfer_call is a 403 that sends nothing; the write key's
// transfer goes through and get_call shows who asked for it.
func TestReadKeyCannotTransfer(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{})
	url, logs := httpServer(t, t.TempDir(), "VOICEDOCK_API_KEYS=ops:"+testKey+",viewer:"+readOnlyKey+":read")
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	writer := httpClient(t, url, map[string]string{"Authorization": "Bearer " + testKey})
	reader := httpClient(t, url, map[string]string{"Authorization": "Bearer " + readOnlyKey})
	line := &phoneLine{c: writer, logs: logs, sipAddr: m[1], offset: off}
	line.configure(t, target.Port())

	list, err := reader.ListTools(t.Context(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
		if tool.Annotations.ReadOnlyHint == nil || !*tool.Annotations.ReadOnlyHint {
			t.Errorf("read key sees the writing tool %s", tool.Name)
		}
	}
	if !slices.Contains(names, "get_call") || !slices.Contains(names, "list_calls") || slices.Contains(names, "transfer_call") {
		t.Errorf("read key's tools: %v", names)
	}

	caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	req := mcp.CallToolRequest{}
	req.Params.Name = "transfer_call"
	req.Params.Arguments = map[string]any{"call_id": callID, "destination": salesNumber}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	_, err = reader.CallTool(ctx, req)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "This API key is read-only") {
		t.Fatalf("read key's transfer_call: %v", err)
	}
	got := mustCall(t, reader, "get_call", `{"id":"`+callID+`"}`)
	none, _ := got.structured["call"].(map[string]any)["transfers"].([]any)
	if field(got, "call", "status") != "in-progress" || len(none) != 0 {
		t.Fatalf("after the refused transfer: %s", got.json)
	}

	res, steps := transfer(t, writer, callID, salesNumber)
	if res.isError {
		t.Fatalf("write key's transfer: %s", res.text)
	}
	checkProgress(t, steps, "completed", logs)
	caller.Wait(t)
	target.Wait(t)
	got = mustCall(t, reader, "get_call", `{"id":"`+callID+`"}`)
	transfers, _ := got.structured["call"].(map[string]any)["transfers"].([]any)
	if len(transfers) != 1 || transfers[0].(map[string]any)["requested_by"] != "ops" {
		t.Errorf("get_call does not show the transfer requested by ops: %s", got.json)
	}
}

// TestRateLimitOverHTTP: with VOICEDOCK_RATE_LIMIT_PER_MINUTE=5 a key's
// sixth request in a minute is a 429 with the reference's headers and
// body; another key and /healthz are unaffected.
func TestRateLimitOverHTTP(t *testing.T) {
	t.Parallel()
	url, _ := httpServer(t, t.TempDir(), "VOICEDOCK_RATE_LIMIT_PER_MINUTE=5",
		"VOICEDOCK_API_KEYS=ops:"+testKey+",viewer:"+readOnlyKey+":read")
	post := func(key string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	start := time.Now()
	for i := range 5 {
		resp := post(testKey)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-RateLimit-Limit") != "5" || resp.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(4-i) {
			t.Fatalf("request %d: %d %v", i+1, resp.StatusCode, resp.Header)
		}
	}
	resp := post(testKey)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("X-RateLimit-Remaining") != "0" || resp.Header.Get("X-RateLimit-Limit") != "5" {
		t.Fatalf("sixth request: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	// 5 a minute is a token every 12 s.
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 12 {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil || reset < start.Unix()+59 || reset > time.Now().Unix()+61 {
		t.Errorf("X-RateLimit-Reset %q (now %d)", resp.Header.Get("X-RateLimit-Reset"), time.Now().Unix())
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != "rate_limit_exceeded" ||
		e.Error.Message != "Too many requests. Please retry after "+strconv.Itoa(retry)+" seconds." {
		t.Errorf("429 body: %s", body)
	}

	if resp := post(readOnlyKey); resp.StatusCode != http.StatusOK || resp.Header.Get("X-RateLimit-Remaining") != "4" {
		t.Errorf("another key: %d %v", resp.StatusCode, resp.Header)
	}
	for range 3 {
		health, err := http.Get(strings.TrimSuffix(url, "/mcp") + "/healthz")
		if err != nil || health.StatusCode != http.StatusOK {
			t.Fatalf("healthz: %v %v", err, health)
		}
		health.Body.Close()
	}
}

// TestCallCommandLimitOverStdio: the per-call limit holds over stdio too
// (VOICEDOCK_CALL_COMMANDS_PER_MINUTE=1): after one transfer, the next
// command on the call is rate_limit_exceeded with retry_after.
func TestCallCommandLimitOverStdio(t *testing.T) {
	t.Parallel()
	line := newPhoneLine(t, sipptest.FreePort(t), "VOICEDOCK_CALL_COMMANDS_PER_MINUTE=1")
	sipptest.Start(t, "uac_refer_reject.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	if res, _ := transfer(t, line.c, callID, salesNumber); res.errorCode() != "transfer_failed" {
		t.Fatalf("first transfer: %s", res.text)
	}
	for _, tool := range []string{"transfer_call", "end_call"} {
		args := `{"call_id":"` + callID + `","destination":"` + salesNumber + `"}`
		if tool == "end_call" {
			args = `{"call_id":"` + callID + `"}`
		}
		res := call(t, line.c, tool, args)
		e, _ := res.structured["error"].(map[string]any)
		retry, _ := e["retry_after"].(float64)
		if res.errorCode() != "rate_limit_exceeded" || retry < 1 || retry > 60 {
			t.Fatalf("%s over the limit: %s", tool, res.json)
		}
	}
	if s := callStatus(t, line.c, callID); s != "in-progress" {
		t.Errorf("call is %s after refused commands", s)
	}
}
