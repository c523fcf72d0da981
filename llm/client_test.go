package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/llm"
)

// endpoint is a local server speaking the chat completions API: it hands
// each request to handle.
func endpoint(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, body map[string]any)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("request body is not JSON: %s", b)
		}
		handle(w, r, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCompleteSendsTheConversationAndReadsToolCalls(t *testing.T) {
	temp := 0.3
	srv := endpoint(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer sk-test" {
			t.Errorf("Authorization %q", got)
		}
		if body["model"] != "gpt-4o-mini" || body["temperature"] != 0.3 || body["max_completion_tokens"] != float64(200) {
			t.Errorf("model, temperature, max_completion_tokens: %v %v %v", body["model"], body["temperature"], body["max_completion_tokens"])
		}
		msgs := body["messages"].([]any)
		want := []string{`{"content":"Be brief.","role":"system"}`, `{"content":"I want to talk to a human","role":"user"}`,
			`{"content":null,"role":"assistant","tool_calls":[{"function":{"arguments":"{}","name":"end_call"},"id":"c0","type":"function"}]}`,
			`{"content":"{\"status\":\"ended\"}","role":"tool","tool_call_id":"c0"}`}
		if len(msgs) != len(want) {
			t.Fatalf("messages: %v", msgs)
		}
		for i, m := range msgs {
			if b, _ := json.Marshal(m); string(b) != want[i] {
				t.Errorf("message %d = %s, want %s", i, b, want[i])
			}
		}
		tools := body["tools"].([]any)
		fn := tools[0].(map[string]any)["function"].(map[string]any)
		if tools[0].(map[string]any)["type"] != "function" || fn["name"] != "transfer_call" || fn["parameters"].(map[string]any)["type"] != "object" {
			t.Errorf("tools: %v", tools)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":"One moment.",
			"tool_calls":[{"id":"call_1","type":"function","function":{"name":"transfer_call","arguments":"{\"destination\":\"+31612345678\"}"}}]}}]}`)
	})
	c, err := llm.New(llm.Config{URL: srv.URL + "/v1/", Key: "sk-test"})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := c.Complete(t.Context(), core.ModelRequest{
		Model: "gpt-4o-mini", Temperature: &temp, MaxCompletionTokens: 200,
		Messages: []core.ModelMessage{
			{Role: "system", Content: "Be brief."},
			{Role: "user", Content: "I want to talk to a human"},
			{Role: "assistant", ToolCalls: []core.ModelToolCall{{ID: "c0", Name: "end_call", Arguments: "{}"}}},
			{Role: "tool", ToolCallID: "c0", Content: `{"status":"ended"}`},
		},
		Tools: []core.ModelTool{{Name: "transfer_call", Description: "Transfer", Parameters: json.RawMessage(`{"type":"object"}`)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if reply.Content != "One moment." || len(reply.ToolCalls) != 1 || reply.ToolCalls[0] != (core.ModelToolCall{ID: "call_1", Name: "transfer_call", Arguments: `{"destination":"+31612345678"}`}) {
		t.Fatalf("reply %+v", reply)
	}
}

func TestURLEndingInChatCompletionsIsUsedAsGiven(t *testing.T) {
	srv := endpoint(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		if r.URL.Path != "/openai/deployments/x/chat/completions" || r.Header.Get("Authorization") != "" {
			t.Errorf("path %s, Authorization %q", r.URL.Path, r.Header.Get("Authorization"))
		}
		if _, ok := body["model"]; ok {
			t.Errorf("an empty model was sent: %v", body)
		}
		io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"Hello"}}]}`)
	})
	c, err := llm.New(llm.Config{URL: srv.URL + "/openai/deployments/x/chat/completions"})
	if err != nil {
		t.Fatal(err)
	}
	if c.URL() != srv.URL+"/openai/deployments/x/chat/completions" {
		t.Fatalf("URL %s", c.URL())
	}
	reply, err := c.Complete(t.Context(), core.ModelRequest{Messages: []core.ModelMessage{{Role: "user", Content: "hi"}}})
	if err != nil || reply.Content != "Hello" {
		t.Fatalf("%+v %v", reply, err)
	}
}

func TestNon2xxIsAClearError(t *testing.T) {
	srv := endpoint(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"message":"Rate limit reached for gpt-4o-mini","type":"requests"}}`)
	})
	c, _ := llm.New(llm.Config{URL: srv.URL})
	_, err := c.Complete(t.Context(), core.ModelRequest{Messages: []core.ModelMessage{{Role: "user", Content: "hi"}}})
	var se *llm.StatusError
	if !errors.As(err, &se) || se.Status != 429 || !strings.Contains(err.Error(), "answered 429: Rate limit reached for gpt-4o-mini") {
		t.Fatalf("error %v", err)
	}
}

func TestMalformedAnswersAreErrors(t *testing.T) {
	for _, body := range []string{`not json`, `{"choices":[]}`, `{"choices":[{"message":{"tool_calls":[{"id":"1","type":"function","function":{"arguments":"{}"}}]}}]}`,
		`{"choices":[{"message":{"content":null,"refusal":"I can't help with that."}}]}`} {
		srv := endpoint(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) { io.WriteString(w, body) })
		c, _ := llm.New(llm.Config{URL: srv.URL})
		if reply, err := c.Complete(t.Context(), core.ModelRequest{}); err == nil {
			t.Errorf("%s: no error, reply %+v", body, reply)
		}
	}
}

func TestTimeoutBoundsACompletion(t *testing.T) {
	release := make(chan struct{})
	srv := endpoint(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c, _ := llm.New(llm.Config{URL: srv.URL, Timeout: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := c.Complete(ctx, core.ModelRequest{})
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("error %v (test context %v)", err, ctx.Err())
	}
}

func TestBadURLIsRefused(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "localhost:8000"} {
		if _, err := llm.New(llm.Config{URL: u}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}
