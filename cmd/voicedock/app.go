package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/media"
	"github.com/voicedock/voicedock/metrics"
	"github.com/voicedock/voicedock/owner"
	"github.com/voicedock/voicedock/server"
	"github.com/voicedock/voicedock/sip"
	"github.com/voicedock/voicedock/tools"
	"github.com/voicedock/voicedock/transport"
	"github.com/voicedock/voicedock/webhooks"
)

// app is one voicedock process serving a data directory: the components
// newApp wires, run starts and stops in one order (see shutdown), and
// close releases.
type app struct {
	cfg    config
	mode   string // the MCP transport: "stdio" or "http"
	keys   []transport.APIKey
	logger *slog.Logger

	lock  *owner.Lock
	store store
	// background runs the work that must outlive a request: webhook
	// delivery, media keepalives, and the call manager's (a transfer
	// whose MCP request was cancelled, the BYE after a completed
	// transfer). It stops after the calls have ended.
	background *stage

	// guards keep a tool's input from the server's files and internal
	// network, and check OAuth access tokens.
	guards *guards

	configuration *core.Configuration
	calls         *core.Calls
	// conversations is the assistants' language model holding calls; nil
	// without VOICEDOCK_LLM_URL.
	conversations *core.Conversations
	metrics       *metrics.Metrics
	dispatcher    *webhooks.Dispatcher
	media         *media.Engine
	ua            *sip.UA
	monitor       *core.TrunkMonitor
	tools         []tools.Tool
	mcp           *server.Server
	// nodeID is this node's id when it is one of several; "" alone.
	nodeID string
}

// newApp opens the store of the data directory lock holds and wires every
// component; nothing runs or listens yet. It takes over lock: close (or
// newApp itself, when it fails) releases it.
func newApp(ctx context.Context, cfg config, mode string, keys []transport.APIKey, lock *owner.Lock, logger *slog.Logger) (_ *app, err error) {
	a := &app{cfg: cfg, mode: mode, keys: keys, logger: logger, lock: lock}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	a.background = newStage(context.WithoutCancel(ctx), nil)
	if err := a.openStore(ctx); err != nil {
		return nil, err
	}
	if a.guards, err = cfg.guards(a.background.ctx, logger); err != nil {
		return nil, err
	}
	if err := a.newCore(ctx); err != nil {
		return nil, err
	}
	a.newWebhooks()
	a.calls.SetConversation(a.store, cfg.transcriber(logger))
	a.media = cfg.media(logger, a.calls, a.guards)
	a.calls.SetMedia(a.media)
	if a.conversations, err = newConversations(cfg, a.calls, logger); err != nil {
		return nil, fmt.Errorf("VOICEDOCK_LLM_URL: %w", err)
	}
	if err := a.newSIP(); err != nil {
		return nil, err
	}
	if err := a.newMCP(); err != nil {
		return nil, err
	}
	return a, nil
}

// newCore builds the configuration service, the call manager and the
// metrics that read it, and ends the calls a previous process held.
func (a *app) newCore(ctx context.Context) error {
	cfg := a.cfg
	sources, err := cfg.allowedSources()
	if err != nil {
		return err
	}
	policy, err := cfg.transferPolicy(a.logger)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	// The transfer path's configuration reads are cached; every
	// configuration write goes through the cache and drops it.
	config := core.NewConfigCache(a.store)
	a.configuration = core.NewConfiguration(config, a.logger)
	a.configuration.SetPolicy(policy)
	a.configuration.SetAudioFiles(a.guards.audioFiles())
	a.configuration.SetTransferTimeout(cfg.TransferTimeout)
	a.configuration.SetWebhookGuard(a.guards.webhookGuard)
	a.calls = core.NewCalls(a.background.ctx, core.CallsConfig{
		TransferTimeout:      cfg.TransferTimeout,
		AudioFiles:           a.guards.audioFiles(),
		AllowAdhocTransfers:  cfg.AllowAdhoc,
		Policy:               policy,
		AllowedSources:       sources,
		DefaultWebhookURL:    cfg.WebhookURL,
		CommandsPerMinute:    cfg.CallCommands,
		ConfirmTimeout:       cfg.ElicitationTimeout,
		MaxTransfersInFlight: cfg.MaxTransfers,
		KeptDir:              filepath.Join(cfg.DataDir, "kept"),
	}, config, a.store, core.NewBus(), a.logger)
	if err := a.joinCluster(ctx); err != nil {
		return err
	}
	// Calls a previous process held are over: it is gone, and so are
	// they. Each is ended as any call ends, with its webhooks, before SIP
	// serves and a new call could arrive.
	n, err := a.calls.RecoverAfterRestart(ctx)
	if err != nil {
		return fmt.Errorf("close calls of the previous run: %w", err)
	}
	if n > 0 {
		a.logger.Warn("calls of a previous run recorded as ended", "calls", n)
	}
	a.metrics = metrics.New(metrics.Sources{
		LiveCalls:         a.calls.LiveCount,
		TransfersInFlight: a.calls.TransfersInFlight,
		BehindStore:       a.calls.BehindStore,
		WebhookQueue: func(ctx context.Context) (int, error) {
			_, n, err := a.store.ListDeliveries(ctx, core.DeliveryFilter{Status: core.DeliveryPending, Page: core.Page{Limit: 1}})
			return n, err
		},
		// The monitor is made with the SIP user agent, after this.
		TrunkHealth: func() map[string]core.TrunkHealth { return a.monitor.Snapshot() },
	})
	return nil
}

// newWebhooks builds the dispatcher that sends the outbox's events.
func (a *app) newWebhooks() {
	cfg := a.cfg
	a.dispatcher = webhooks.NewDispatcher(a.store, func(ctx context.Context, assistantID string) (string, error) {
		as, err := a.store.GetAssistant(ctx, assistantID)
		return as.WebhookSecret, err
	}, webhooks.Config{
		DefaultSecret: cfg.WebhookSecret,
		MaxAge:        cfg.WebhookMaxAge,
		Concurrency:   cfg.WebhookConcurrency,
		Timeout:       cfg.WebhookTimeout,
		UserAgent:     "voicedock/" + version(),
		OnAttempt:     a.metrics.WebhookAttempt,
		Client:        a.guards.webhooks,
	}, a.logger)
	a.calls.SetAssistantRequester(a.dispatcher)
}

// newSIP builds the SIP user agent and the trunk monitor that probes
// through it.
func (a *app) newSIP() error {
	cfg := a.cfg
	ua, err := sip.New(sip.Config{
		Addr:       cfg.SIPAddr,
		Transports: cfg.SIPTransports,
		TLSCert:    cfg.SIPTLSCert,
		TLSKey:     cfg.SIPTLSKey,
		TLSCAFile:  cfg.SIPTLSCA,
		PublicAddr: cfg.SIPPublicAddr,
		RTPPortMin: cfg.RTPPortMin,
		RTPPortMax: cfg.RTPPortMax,
		UserAgent:  "voicedock/" + version(),
		// 0 turns these off; sip.Config takes a negative for that.
		RateLimit: cmp.Or(cfg.SIPRateLimit, -1),
		MaxCalls:  cmp.Or(cfg.MaxCalls, -1),
		OnMessage: a.metrics.SIPMessage,
		Media:     a.media,
	}, a.calls, a.logger)
	if err != nil {
		return fmt.Errorf("SIP: %w", err)
	}
	a.ua = ua
	a.calls.SetSignaling(ua)
	a.monitor = core.NewTrunkMonitor(a.store, ua, cfg.TrunkProbeTimeout, a.logger)
	a.configuration.SetTrunkHealth(a.monitor)
	return nil
}

// newMCP builds the tools and the MCP server that carries them.
func (a *app) newMCP() error {
	deliveries := core.NewDeliveries(a.store, a.dispatcher.Notify)
	a.tools = tools.All(tools.Deps{
		Config: a.configuration, Calls: a.calls, Deliveries: deliveries,
		Trunks: a.monitor, Stats: core.NewStatistics(a.store), Conversations: a.conversations,
	})
	srv, err := server.New(a.tools, server.Options{
		Name: "voicedock", Version: version(), Logger: a.logger, Calls: a.calls, Config: a.configuration,
		OnToolCall: a.metrics.ToolCall, Tasks: a.store, Forward: a.forwarder(),
	})
	if err != nil {
		return err
	}
	a.mcp = srv
	return nil
}

// close releases what newApp took, last in the shutdown order: the store,
// once run has stopped everything that writes to it, then the data
// directory.
func (a *app) close() {
	a.background.stop()
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			a.logger.Warn("close store", "err", err)
		}
		a.logger.Info("shutdown: stopped", "component", "store")
	}
	if a.guards != nil {
		if err := a.guards.Close(); err != nil {
			a.logger.Warn("close audio folder", "err", err)
		}
	}
	a.lock.Release()
}
