package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/voicedock/voicedock/core"
)

// maxResponse bounds the body read from the endpoint: a reply to say on a
// call is a few hundred bytes, and the endpoint's answer is untrusted.
const maxResponse = 4 << 20

// DefaultTimeout bounds one completion when Config.Timeout is 0: the
// caller is waiting on the line.
const DefaultTimeout = 30 * time.Second

// Config is where the chat completions endpoint is.
type Config struct {
	// URL is the API's base ("https://api.openai.com/v1"), to which
	// /chat/completions is added, or the full URL of the endpoint
	// (ending in /chat/completions), used as given.
	URL string
	// Key is sent as a bearer token when set.
	Key string
	// Timeout bounds one completion; DefaultTimeout when 0.
	Timeout   time.Duration
	UserAgent string
	// Client is the HTTP client; one with no timeout of its own when nil.
	Client *http.Client
}

// Client asks an OpenAI-compatible chat completions endpoint.
//
// It is written on net/http rather than an SDK: it needs one call of the
// API, sent to a URL exactly as configured, with no retries (a completion
// retried seconds later answers a caller who has moved on; the core asks
// again at the caller's next line) and a bound on what it reads.
type Client struct {
	url     string
	cfg     Config
	client  *http.Client
	timeout time.Duration
}

// New returns a client of the endpoint.
func New(cfg Config) (*Client, error) {
	u := strings.TrimRight(strings.TrimSpace(cfg.URL), "/")
	if u == "" {
		return nil, errors.New("llm: no endpoint URL")
	}
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return nil, fmt.Errorf("llm: endpoint URL %q is not http or https", u)
	}
	if !strings.HasSuffix(u, "/chat/completions") {
		u += "/chat/completions"
	}
	c := &Client{url: u, cfg: cfg, client: cfg.Client, timeout: cfg.Timeout}
	if c.client == nil {
		c.client = &http.Client{}
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	return c, nil
}

// URL is the endpoint the client posts to.
func (c *Client) URL() string { return c.url }

// Complete asks for the next message of the conversation.
func (c *Client) Complete(ctx context.Context, req core.ModelRequest) (core.ModelReply, error) {
	body, err := json.Marshal(encodeRequest(req))
	if err != nil {
		return core.ModelReply{}, fmt.Errorf("llm: encode the request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return core.ModelReply{}, fmt.Errorf("llm: build the request: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	if c.cfg.Key != "" {
		hr.Header.Set("Authorization", "Bearer "+c.cfg.Key)
	}
	if c.cfg.UserAgent != "" {
		hr.Header.Set("User-Agent", c.cfg.UserAgent)
	}
	res, err := c.client.Do(hr)
	if err != nil {
		return core.ModelReply{}, fmt.Errorf("llm: POST %s: %w", c.url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponse+1))
	if err != nil {
		return core.ModelReply{}, fmt.Errorf("llm: read the answer of %s: %w", c.url, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return core.ModelReply{}, &StatusError{Status: res.StatusCode, Message: errorMessage(b)}
	}
	if len(b) > maxResponse {
		return core.ModelReply{}, fmt.Errorf("llm: the answer of %s is over %d bytes", c.url, maxResponse)
	}
	reply, err := decodeResponse(b)
	if err != nil {
		return core.ModelReply{}, fmt.Errorf("llm: the answer of %s: %w", c.url, err)
	}
	return reply, nil
}

// StatusError is a non-2xx answer of the endpoint.
type StatusError struct {
	Status int
	// Message is the endpoint's error message, or the start of its body.
	Message string
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("llm: the chat completions endpoint answered %d", e.Status)
	}
	return fmt.Sprintf("llm: the chat completions endpoint answered %d: %s", e.Status, e.Message)
}
