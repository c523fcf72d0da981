package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/netguard"
)

// config is the server's configuration: environment variables first,
// command-line flags over them.
type config struct {
	DataDir   string `env:"VOICEDOCK_DATA_DIR"`
	HTTPAddr  string `env:"VOICEDOCK_HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	APIKeys   string `env:"VOICEDOCK_API_KEYS"`
	SecretKey string `env:"VOICEDOCK_SECRET_KEY"`
	// DatabaseURL (postgres://...) keeps the state in PostgreSQL, shared
	// by several nodes; unset, it is SQLite in the data directory.
	DatabaseURL    string   `env:"VOICEDOCK_DATABASE_URL"`
	LogLevel       string   `env:"VOICEDOCK_LOG_LEVEL" envDefault:"info"`
	LogFormat      string   `env:"VOICEDOCK_LOG_FORMAT" envDefault:"text"`
	AllowedOrigins []string `env:"VOICEDOCK_ALLOWED_ORIGINS" envSeparator:","`
	MaxBodyBytes   int64    `env:"VOICEDOCK_HTTP_MAX_BODY_BYTES" envDefault:"1048576"`
	// RateLimit is requests per minute per API key over HTTP; 0 is off.
	RateLimit int `env:"VOICEDOCK_RATE_LIMIT_PER_MINUTE" envDefault:"100"`
	// CallCommands is transfers and hang-ups per minute per call; 0 is off.
	CallCommands int `env:"VOICEDOCK_CALL_COMMANDS_PER_MINUTE" envDefault:"10"`
	// SIPRateLimit is SIP messages per second per source address (bursts
	// of twice that); 0 is off.
	SIPRateLimit int `env:"VOICEDOCK_SIP_RATE_LIMIT" envDefault:"20"`
	// MaxCalls caps the calls held at once; 0 is no cap.
	MaxCalls int `env:"VOICEDOCK_MAX_CALLS" envDefault:"1000"`
	// MaxTransfers caps the transfers in flight at once; 0 is no cap.
	MaxTransfers int `env:"VOICEDOCK_MAX_TRANSFERS_IN_FLIGHT" envDefault:"256"`

	SIPAddr         string        `env:"VOICEDOCK_SIP_ADDR" envDefault:"127.0.0.1:5060"`
	SIPTransports   []string      `env:"VOICEDOCK_SIP_TRANSPORTS" envSeparator:"," envDefault:"udp,tcp"`
	SIPTLSCert      string        `env:"VOICEDOCK_SIP_TLS_CERT"`
	SIPTLSKey       string        `env:"VOICEDOCK_SIP_TLS_KEY"`
	SIPTLSCA        string        `env:"VOICEDOCK_SIP_TLS_CA"`
	SIPPublicAddr   string        `env:"VOICEDOCK_SIP_PUBLIC_ADDR"`
	SIPAllowedCIDRs []string      `env:"VOICEDOCK_SIP_ALLOWED_CIDRS" envSeparator:","`
	RTPPortMin      int           `env:"VOICEDOCK_RTP_PORT_MIN" envDefault:"10000"`
	RTPPortMax      int           `env:"VOICEDOCK_RTP_PORT_MAX" envDefault:"20000"`
	AllowAdhoc      bool          `env:"VOICEDOCK_ALLOW_ADHOC_TRANSFERS" envDefault:"false"`
	TransferTimeout time.Duration `env:"VOICEDOCK_TRANSFER_TIMEOUT" envDefault:"30s"`
	// ElicitationTimeout bounds the wait for the user's answer about an
	// ad-hoc transfer destination.
	ElicitationTimeout time.Duration `env:"VOICEDOCK_ELICITATION_TIMEOUT" envDefault:"60s"`
	// The transfer policy (core.PolicyConfig): empty countries and
	// domains mean those of our own numbers and trunks.
	TransferCountries   []string `env:"VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES" envSeparator:","`
	TransferDeniedTypes []string `env:"VOICEDOCK_TRANSFER_DENIED_TYPES" envSeparator:"," envDefault:"premium_rate,shared_cost,uan,personal,pager,unknown"`
	SIPAllowedDomains   []string `env:"VOICEDOCK_SIP_ALLOWED_DOMAINS" envSeparator:","`

	// Connect is the /mcp URL of a voicedock server to attach to over HTTP
	// (stdio mode), instead of serving; ConnectKey is its bearer key.
	Connect    string `env:"VOICEDOCK_CONNECT"`
	ConnectKey string `env:"VOICEDOCK_CONNECT_KEY"`
	// KeepRunning keeps a stdio process that owns the data directory
	// serving attached clients after its own client has gone.
	KeepRunning bool `env:"VOICEDOCK_KEEP_RUNNING"`

	WebhookURL         string        `env:"VOICEDOCK_WEBHOOK_URL"`
	WebhookSecret      string        `env:"VOICEDOCK_WEBHOOK_SECRET"`
	WebhookMaxAge      time.Duration `env:"VOICEDOCK_WEBHOOK_MAX_AGE" envDefault:"24h"`
	WebhookConcurrency int           `env:"VOICEDOCK_WEBHOOK_CONCURRENCY" envDefault:"256"`
	WebhookTimeout     time.Duration `env:"VOICEDOCK_WEBHOOK_TIMEOUT" envDefault:"10s"`

	// MetricsAddr is a listener of its own for /metrics (the HTTP
	// transport serves it too).
	MetricsAddr string `env:"VOICEDOCK_METRICS_ADDR"`
	// TrunkProbeInterval is how often every trunk gets an OPTIONS probe;
	// 0 is off. TrunkProbeTimeout bounds one probe.
	TrunkProbeInterval time.Duration `env:"VOICEDOCK_TRUNK_PROBE_INTERVAL" envDefault:"60s"`
	TrunkProbeTimeout  time.Duration `env:"VOICEDOCK_TRUNK_PROBE_TIMEOUT" envDefault:"5s"`

	// Speech and call media: the text-to-speech engine the assistant
	// speaks with (and its cache), and how often an idle call is sent
	// silence so that carriers and NATs do not drop it.
	TTSProvider  string        `env:"VOICEDOCK_TTS_PROVIDER" envDefault:"espeak-ng"`
	TTSVoice     string        `env:"VOICEDOCK_TTS_VOICE"`
	TTSBaseURL   string        `env:"VOICEDOCK_TTS_BASE_URL" envDefault:"https://api.openai.com/v1"`
	TTSAPIKey    string        `env:"VOICEDOCK_TTS_API_KEY"`
	TTSModel     string        `env:"VOICEDOCK_TTS_MODEL" envDefault:"gpt-4o-mini-tts"`
	TTSCacheMB   int           `env:"VOICEDOCK_TTS_CACHE_MB" envDefault:"64"`
	RTPKeepalive time.Duration `env:"VOICEDOCK_RTP_KEEPALIVE" envDefault:"1s"`

	// Speech-to-text of the callers (hearing.go).
	STTProvider string `env:"VOICEDOCK_STT_PROVIDER" envDefault:"pocketsphinx"`
	STTBaseURL  string `env:"VOICEDOCK_STT_BASE_URL" envDefault:"https://api.openai.com/v1"`
	STTAPIKey   string `env:"VOICEDOCK_STT_API_KEY"`
	STTModel    string `env:"VOICEDOCK_STT_MODEL" envDefault:"whisper-1"`

	// The assistants' language model: an OpenAI-compatible chat
	// completions endpoint; unset, no model runs and MCP clients hold the
	// conversations.
	LLMURL     string        `env:"VOICEDOCK_LLM_URL"`
	LLMKey     string        `env:"VOICEDOCK_LLM_KEY"`
	LLMTimeout time.Duration `env:"VOICEDOCK_LLM_TIMEOUT" envDefault:"30s"`

	// What a tool's input may reach: local recordings only in AudioDir,
	// and URLs only on public addresses unless opened (see guards).
	AudioDir            string   `env:"VOICEDOCK_AUDIO_DIR"`
	FetchAllowPrivate   bool     `env:"VOICEDOCK_FETCH_ALLOW_PRIVATE"`
	FetchAllowedCIDRs   []string `env:"VOICEDOCK_FETCH_ALLOWED_CIDRS" envSeparator:","`
	WebhookAllowedCIDRs []string `env:"VOICEDOCK_WEBHOOK_ALLOWED_CIDRS" envSeparator:"," envDefault:"127.0.0.0/8,::1"`
	// OAuth access tokens on HTTP, besides the API keys (oauth package).
	OAuthIssuer   string `env:"VOICEDOCK_OAUTH_ISSUER"`
	OAuthJWKSURL  string `env:"VOICEDOCK_OAUTH_JWKS_URL"`
	OAuthResource string `env:"VOICEDOCK_OAUTH_RESOURCE"`

	// DebugAddr serves pprof profiles when set; loopback only.
	DebugAddr string `env:"VOICEDOCK_DEBUG_ADDR"`

	// Several nodes sharing the store (node.go): this node's id, its MCP
	// URL as the other nodes reach it, the key they share, and how long a
	// lease keeps its calls its own. Without NodeURL the server runs alone.
	NodeID    string        `env:"VOICEDOCK_NODE_ID"`
	NodeURL   string        `env:"VOICEDOCK_NODE_URL"`
	NodeKey   string        `env:"VOICEDOCK_NODE_KEY"`
	NodeLease time.Duration `env:"VOICEDOCK_NODE_LEASE" envDefault:"15s"`
}

// allowedSources parses VOICEDOCK_SIP_ALLOWED_CIDRS as the other CIDR
// lists are parsed; a bare address is a single host.
func (c config) allowedSources() ([]netip.Prefix, error) {
	return netguard.ParseCIDRs("VOICEDOCK_SIP_ALLOWED_CIDRS", c.SIPAllowedCIDRs)
}

// loadConfig reads the environment through getenv (os.Environ in main,
// a map in tests).
func loadConfig(environ map[string]string) (config, error) {
	var cfg config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: environ}); err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	if cfg.DataDir == "" {
		dir, err := defaultDataDir(environ)
		if err != nil {
			return cfg, err
		}
		cfg.DataDir = dir
	}
	if cfg.TransferTimeout < time.Second || cfg.TransferTimeout > 10*time.Minute {
		return cfg, fmt.Errorf("configuration: VOICEDOCK_TRANSFER_TIMEOUT must be between 1s and 10m")
	}
	if cfg.ElicitationTimeout < time.Second || cfg.ElicitationTimeout > 10*time.Minute {
		return cfg, fmt.Errorf("configuration: VOICEDOCK_ELICITATION_TIMEOUT must be between 1s and 10m")
	}
	if cfg.RTPPortMin < 1024 || cfg.RTPPortMax > 65535 || cfg.RTPPortMin > cfg.RTPPortMax {
		return cfg, fmt.Errorf("configuration: VOICEDOCK_RTP_PORT_MIN..MAX must be a range within 1024-65535")
	}
	if cfg.WebhookURL != "" {
		if u, err := url.Parse(cfg.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cfg, fmt.Errorf("configuration: VOICEDOCK_WEBHOOK_URL must be an http(s) URL")
		}
	}
	if cfg.WebhookMaxAge < time.Minute || cfg.WebhookConcurrency < 1 || cfg.WebhookConcurrency > 256 || cfg.WebhookTimeout < time.Second {
		return cfg, fmt.Errorf("configuration: webhook settings out of range (max age >= 1m, concurrency 1-256, timeout >= 1s)")
	}
	if cfg.Connect != "" {
		if u, err := url.Parse(cfg.Connect); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return cfg, fmt.Errorf("configuration: VOICEDOCK_CONNECT must be an http(s) URL such as https://voicedock.example.com/mcp")
		}
	}
	if cfg.MaxBodyBytes <= 0 {
		return cfg, fmt.Errorf("configuration: VOICEDOCK_HTTP_MAX_BODY_BYTES must be positive")
	}
	if cfg.RateLimit < 0 || cfg.CallCommands < 0 {
		return cfg, fmt.Errorf("configuration: VOICEDOCK_RATE_LIMIT_PER_MINUTE and VOICEDOCK_CALL_COMMANDS_PER_MINUTE must be 0 (no limit) or more")
	}
	if cfg.SIPRateLimit < 0 || cfg.MaxCalls < 0 || cfg.MaxTransfers < 0 {
		return cfg, fmt.Errorf("configuration: VOICEDOCK_SIP_RATE_LIMIT, VOICEDOCK_MAX_CALLS and VOICEDOCK_MAX_TRANSFERS_IN_FLIGHT must be 0 (no limit) or more")
	}
	if cfg.TrunkProbeInterval < 0 || (cfg.TrunkProbeInterval > 0 && cfg.TrunkProbeInterval < time.Second) {
		return cfg, fmt.Errorf("configuration: VOICEDOCK_TRUNK_PROBE_INTERVAL must be 0 (off) or at least 1s")
	}
	if cfg.TrunkProbeTimeout < 100*time.Millisecond || cfg.TrunkProbeTimeout > time.Minute {
		return cfg, fmt.Errorf("configuration: VOICEDOCK_TRUNK_PROBE_TIMEOUT must be between 100ms and 1m")
	}
	if err := cfg.checkHearing(); err != nil {
		return cfg, err
	}
	if err := cfg.checkSpeech(); err != nil {
		return cfg, err
	}
	if err := cfg.checkLLM(); err != nil {
		return cfg, err
	}
	if err := cfg.checkNode(); err != nil {
		return cfg, err
	}
	if cfg.DebugAddr != "" {
		if err := checkDebugAddr(cfg.DebugAddr); err != nil {
			return cfg, fmt.Errorf("configuration: %w", err)
		}
	}
	if _, err := cfg.transferPolicy(nil); err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

// transferPolicy builds the transfer policy from the configuration.
func (c config) transferPolicy(logger *slog.Logger) (*core.Policy, error) {
	return core.NewPolicy(core.PolicyConfig{
		AllowedCountries:  c.TransferCountries,
		DeniedTypes:       c.TransferDeniedTypes,
		SIPAllowedDomains: c.SIPAllowedDomains,
		AllowAdhoc:        c.AllowAdhoc,
		Logger:            logger,
	})
}

// defaultDataDir is a voicedock folder in the user's data directory. Go's
// os package has UserConfigDir and UserCacheDir but no data directory, so
// this follows the XDG base directory spec and the platforms' conventions.
func defaultDataDir(environ map[string]string) (string, error) {
	if dir := environ["XDG_DATA_HOME"]; dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "voicedock"), nil
	}
	home := environ["HOME"]
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("no data directory: set VOICEDOCK_DATA_DIR (%w)", err)
		}
	}
	switch runtime.GOOS {
	case "darwin":
		return filepath.Join(home, "Library", "Application Support", "voicedock"), nil
	case "windows":
		if dir := environ["LOCALAPPDATA"]; dir != "" {
			return filepath.Join(dir, "voicedock"), nil
		}
	}
	return filepath.Join(home, ".local", "share", "voicedock"), nil
}

func environMap() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// newLogger logs to w (stderr: stdout belongs to the stdio transport).
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("VOICEDOCK_LOG_LEVEL %q is not debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("VOICEDOCK_LOG_FORMAT %q is not text or json", format)
}
