package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// rpsResult is one throughput run.
type rpsResult struct {
	RPS      float64
	P50, P99 time.Duration
	Errors   int64
}

// hammer runs op from workers goroutines for dur and measures it.
func hammer(ctx context.Context, workers int, dur time.Duration, op func(ctx context.Context, worker int) error) rpsResult {
	var (
		mu   sync.Mutex
		lats []time.Duration
		errs atomic.Int64
		wg   sync.WaitGroup
	)
	deadline := time.Now().Add(dur)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := time.Now()
				if err := op(ctx, w); err != nil {
					errs.Add(1)
					continue
				}
				local = append(local, time.Since(t))
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	s := sortedCopy(lats)
	return rpsResult{RPS: float64(len(s)) / el.Seconds(), P50: percentile(s, 50), P99: percentile(s, 99), Errors: errs.Load()}
}

// mcpOp is get_call or list_calls through an MCP client. The client has
// decoded the result (structured content included); nothing more is done
// with it than checking it is not an error.
func mcpOp(clients []*client.Client, tool, callID string) func(ctx context.Context, w int) error {
	args := map[string]any{}
	if tool == "get_call" {
		args["id"] = callID
	}
	return func(ctx context.Context, w int) error {
		req := mcp.CallToolRequest{}
		req.Params.Name = tool
		req.Params.Arguments = args
		res, err := clients[w%len(clients)].CallTool(ctx, req)
		if err != nil {
			return err
		}
		if res.IsError {
			return fmt.Errorf("%s: tool error", tool)
		}
		return nil
	}
}

// rawMCPOp is mcpOp's read through the same MCP endpoint with the client
// the plain reference uses (net/http, the answer decoded into a map): a
// sessionless (2026-07-28) tools/call, as mcp-go's client sends it. Against
// plainOp it compares the two handlers; against mcpOp it shows what mcp-go's
// client costs (it decodes the result twice, and each content block again).
func rawMCPOp(hc *http.Client, mcpURL, tool, callID string) func(ctx context.Context, w int) error {
	args := map[string]any{}
	if tool == "get_call" {
		args["id"] = callID
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": map[string]any{
		"name": tool, "arguments": args,
		"_meta": map[string]any{
			"io.modelcontextprotocol/protocolVersion":    mcp.ProtocolVersion20260728,
			"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "voicedock-bench", "version": "1"},
			"io.modelcontextprotocol/clientCapabilities": map[string]any{},
		},
	}})
	if err != nil {
		panic(err) // a constant's encoding
	}
	return func(ctx context.Context, w int) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, mcpURL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set(mcp.HeaderProtocolVersion, mcp.ProtocolVersion20260728)
		req.Header.Set(mcp.HeaderMethod, string(mcp.MethodToolsCall))
		req.Header.Set(mcp.HeaderName, tool)
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", tool, res.Status)
		}
		data, err := io.ReadAll(res.Body)
		if err != nil {
			return err
		}
		if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
			_, event, ok := strings.Cut(string(data), "data: ")
			if !ok {
				return fmt.Errorf("%s: an event stream without data", tool)
			}
			event, _, _ = strings.Cut(event, "\n")
			data = []byte(event)
		}
		var v struct {
			Result map[string]any  `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(data, &v); err != nil {
			return fmt.Errorf("%s: %w", tool, err)
		}
		if v.Error != nil || v.Result == nil || v.Result["isError"] == true {
			return fmt.Errorf("%s: error %s", tool, data)
		}
		return nil
	}
}

// plainOp is the same read through the plain net/http JSON handler.
func plainOp(hc *http.Client, base, tool, callID string) func(ctx context.Context, w int) error {
	u := base + "/" + tool
	if tool == "get_call" {
		u += "?id=" + url.QueryEscape(callID)
	}
	return func(ctx context.Context, w int) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", u, res.Status)
		}
		// Decoded as the MCP client decodes its result: an agent reads it.
		var v map[string]any
		return json.NewDecoder(res.Body).Decode(&v)
	}
}

// medianRPS is the run with the median rate of runs.
func medianRPS(runs []rpsResult) rpsResult {
	if len(runs) == 0 {
		return rpsResult{}
	}
	rates := make([]float64, len(runs))
	for i, r := range runs {
		rates[i] = r.RPS
	}
	m := median(rates)
	best := runs[0]
	for _, r := range runs {
		if abs(r.RPS-m) < abs(best.RPS-m) {
			best = r
		}
	}
	best.RPS = m
	return best
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
