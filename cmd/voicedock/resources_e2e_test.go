package main

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// TestSubscribedClientHearsEveryTransferStep subscribes to a live call's
// resource and counts resources/updated through a transfer driven by sipp.
func TestSubscribedClientHearsEveryTransferStep(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "100")
	line := newPhoneLine(t, target.Port())

	var mu sync.Mutex
	updates := map[string]int{}
	listChanged := 0
	var logged []string // the call's MCP log messages at info
	got := make(chan struct{}, 100)
	line.c.OnNotification(func(n mcp.JSONRPCNotification) {
		mu.Lock()
		defer mu.Unlock()
		switch n.Method {
		case "notifications/resources/updated":
			uri, _ := n.Params.AdditionalFields["uri"].(string)
			updates[uri]++
		case "notifications/resources/list_changed":
			listChanged++
		case "notifications/message":
			data, _ := n.Params.AdditionalFields["data"].(map[string]any)
			if msg, _ := data["message"].(string); msg != "" {
				logged = append(logged, msg)
			}
		default:
			return
		}
		got <- struct{}{}
	})

	caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	uri := "voicedock://calls/" + callID
	//lint:ignore SA1019 the session-based protocol (2025-11-25) that clients speak today sets its log level this way
	if err := line.c.SetLevel(t.Context(), mcp.SetLevelRequest{Params: mcp.SetLevelParams{Level: mcp.LoggingLevelInfo}}); err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 the session-based protocol (2025-11-25) that clients speak today subscribes this way
	if err := line.c.Subscribe(t.Context(), mcp.SubscribeRequest{Params: mcp.SubscribeParams{URI: uri}}); err != nil {
		t.Fatal(err)
	}
	read, err := line.c.ReadResource(t.Context(), mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: uri}})
	if err != nil || len(read.Contents) != 1 || !strings.Contains(read.Contents[0].(mcp.TextResourceContents).Text, `"status":"in-progress"`) {
		t.Fatalf("read %s: %v %+v", uri, err, read)
	}
	res, steps := transfer(t, line.c, callID, salesNumber)
	if res.isError {
		t.Fatal(res.text)
	}
	caller.Wait(t)
	target.Wait(t)
	line.ended(t, callID)

	// Every transfer step and the call's two status changes (transferred,
	// then ended) each produce an update.
	want := len(steps) + 2
	deadline := time.After(10 * time.Second)
	for {
		mu.Lock()
		n, lc := updates[uri], listChanged
		completed := slices.Contains(logged, "transfer of call "+callID+" to "+salesNumber+": completed")
		mu.Unlock()
		if n >= want && lc >= 1 && completed {
			break
		}
		select {
		case <-got:
		case <-deadline:
			mu.Lock()
			t.Fatalf("updates for %s: %d, want %d; list_changed %d; log messages %q", uri, n, want, lc, logged)
		}
	}
	live, err := line.c.ReadResource(t.Context(), mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: "voicedock://calls"}})
	if err != nil || !strings.Contains(live.Contents[0].(mcp.TextResourceContents).Text, `"calls":[]`) {
		t.Errorf("live calls after the transfer: %v %+v", err, live)
	}
	if _, err := line.c.ReadResource(t.Context(), mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: "voicedock://calls/nope"}}); err == nil {
		t.Error("reading an unknown call succeeded")
	}
}
