package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/llm"
)

// checkLLM validates the VOICEDOCK_LLM_* settings.
func (c config) checkLLM() error {
	if c.LLMURL != "" {
		if u, err := url.Parse(c.LLMURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("configuration: VOICEDOCK_LLM_URL must be an http(s) URL such as https://api.openai.com/v1")
		}
	}
	if c.LLMTimeout < time.Second || c.LLMTimeout > 5*time.Minute {
		return fmt.Errorf("configuration: VOICEDOCK_LLM_TIMEOUT must be between 1s and 5m")
	}
	return nil
}

// newConversations is the loop in which the assistants' language model
// holds the calls, when VOICEDOCK_LLM_URL is set; nil otherwise, and calls
// are held by MCP clients alone. Start runs it.
func newConversations(cfg config, calls *core.Calls, logger *slog.Logger) (*core.Conversations, error) {
	if strings.TrimSpace(cfg.LLMURL) == "" {
		logger.Info("no language model endpoint (VOICEDOCK_LLM_URL): assistants' llm_config is stored, not run; MCP clients hold the conversations")
		return nil, nil
	}
	client, err := llm.New(llm.Config{URL: cfg.LLMURL, Key: cfg.LLMKey, Timeout: cfg.LLMTimeout, UserAgent: "voicedock/" + version()})
	if err != nil {
		return nil, err
	}
	logger.Info("language model endpoint", "url", client.URL(), "key_set", cfg.LLMKey != "")
	return core.NewConversations(calls, client, logger), nil
}
