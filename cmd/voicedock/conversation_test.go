package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

func TestLLMConfiguration(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{
		{"VOICEDOCK_LLM_URL": "localhost:8000/v1"},
		{"VOICEDOCK_LLM_URL": "ftp://example.com/v1"},
		{"VOICEDOCK_LLM_TIMEOUT": "500ms"},
		{"VOICEDOCK_LLM_URL": "http://127.0.0.1:8000/v1", "VOICEDOCK_LLM_TIMEOUT": "10m"},
	} {
		env["HOME"] = t.TempDir()
		if _, err := loadConfig(env); err == nil || !strings.Contains(err.Error(), "VOICEDOCK_LLM_") {
			t.Errorf("%v loaded: %v", env, err)
		}
	}
	cfg, err := loadConfig(map[string]string{"HOME": t.TempDir(), "VOICEDOCK_LLM_URL": "http://127.0.0.1:8000/v1", "VOICEDOCK_LLM_KEY": "sk-x"})
	if err != nil || cfg.LLMTimeout != 30*time.Second || cfg.LLMKey != "sk-x" {
		t.Fatalf("%+v %v", cfg, err)
	}

	// Without an endpoint no model runs.
	calls := core.NewCalls(t.Context(), core.CallsConfig{}, nil, nil, core.NewBus(), slog.New(slog.DiscardHandler))
	if conv, err := newConversations(config{}, calls, slog.New(slog.DiscardHandler)); conv != nil || err != nil {
		t.Fatalf("without VOICEDOCK_LLM_URL: %v %v", conv, err)
	}
	conv, err := newConversations(cfg, calls, slog.New(slog.DiscardHandler))
	if conv == nil || err != nil {
		t.Fatalf("with VOICEDOCK_LLM_URL: %v %v", conv, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := conv.Start(ctx)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the conversation loop did not stop with its context")
	}
}
