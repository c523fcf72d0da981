package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/voicedock/voicedock/console"
	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/metrics"
	"github.com/voicedock/voicedock/owner"
	"github.com/voicedock/voicedock/schemas"
	"github.com/voicedock/voicedock/server"
	"github.com/voicedock/voicedock/sip"
	"github.com/voicedock/voicedock/store/sqlite"
	"github.com/voicedock/voicedock/tools"
	"github.com/voicedock/voicedock/transport"
	"github.com/voicedock/voicedock/webhooks"
)

const usage = `voicedock moves live phone calls from AI agents to humans.

Usage:
  voicedock serve [--transport stdio|http] [flags]   run the server (stdio by default)
  voicedock schemas [--dir DIR]                        write the tools' JSON Schemas
  voicedock version                                    print the version

Serve flags (each overrides its environment variable):
  --transport stdio|http   MCP transport; stdio for a desktop client, http for a service
  --http-addr ADDR         VOICEDOCK_HTTP_ADDR   (default 127.0.0.1:8080; MCP at /mcp)
  --data-dir DIR           VOICEDOCK_DATA_DIR    (default ~/.local/share/voicedock)
  --log-level LEVEL        VOICEDOCK_LOG_LEVEL   debug|info|warn|error (default info)
  --log-format FORMAT      VOICEDOCK_LOG_FORMAT  text|json (default text)
  --detach-on-exit         VOICEDOCK_KEEP_RUNNING  (stdio) keep serving attached
                           clients after this process's own client has gone

A stdio server started while another voicedock process owns the data
directory attaches to it; VOICEDOCK_CONNECT=URL attaches to a remote server.

Other settings come from the environment: VOICEDOCK_API_KEYS, VOICEDOCK_SECRET_KEY,
VOICEDOCK_ALLOWED_ORIGINS, VOICEDOCK_HTTP_MAX_BODY_BYTES. See the README.
Logs go to stderr; in stdio mode stdout carries nothing but MCP.
`

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdin, stdout, stderr)
	case "schemas":
		err = writeSchemas(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "voicedock", version())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "voicedock: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "voicedock:", err)
		return 1
	}
	return 0
}

func version() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

func serve(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(environMap())
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	mode := fs.String("transport", "stdio", "stdio or http")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", cfg.HTTPAddr, "HTTP listen address")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data directory")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "log level")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "log format")
	fs.BoolVar(&cfg.KeepRunning, "detach-on-exit", cfg.KeepRunning, "keep serving attached clients after the stdio client has gone")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments (got %q)", fs.Args())
	}
	if *mode != "stdio" && *mode != "http" {
		return fmt.Errorf("--transport must be stdio or http, not %q", *mode)
	}
	logger, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	keys, err := transport.ParseAPIKeys(cfg.APIKeys)
	if err != nil {
		return fmt.Errorf("VOICEDOCK_API_KEYS: %w", err)
	}

	if cfg.Connect != "" {
		if *mode != "stdio" {
			return errors.New("VOICEDOCK_CONNECT attaches a stdio client to a server; it does not combine with --transport http")
		}
		return attachRemote(ctx, cfg, stdin, stdout, logger)
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	// One process owns the data directory (the store, the SIP port, the
	// calls); a stdio server started beside it attaches to it instead.
	lock, err := acquireOwnership(ctx, cfg.DataDir)
	if errors.Is(err, owner.ErrOwned) {
		if *mode != "stdio" {
			return fmt.Errorf("%s is in use by another voicedock process: stop it, or use another --data-dir", cfg.DataDir)
		}
		return attachLocal(ctx, cfg.DataDir, stdin, stdout, logger)
	}
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	defer lock.Release()
	socketPath, socketErr := owner.SocketPath(cfg.DataDir)
	key, err := sqlite.LoadOrCreateKey(cfg.DataDir, cfg.SecretKey)
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "voicedock.db"), key, logger)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close()

	sources, err := cfg.allowedSources()
	if err != nil {
		return err
	}

	// Work that must outlive a request (a transfer whose MCP request was
	// cancelled, the BYE after a completed transfer) runs on this context,
	// which ends only after the SIP side has shut down.
	bg, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()

	policy, err := cfg.transferPolicy(logger)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	grd, err := cfg.guards(bg, logger)
	if err != nil {
		return err
	}
	defer grd.Close()
	svc := core.NewService(store, logger)
	svc.SetPolicy(policy)
	svc.SetAudioFiles(grd.audioFiles())
	svc.SetWebhookGuard(grd.webhookGuard)
	calls := core.NewCalls(bg, core.CallsConfig{
		TransferTimeout:     cfg.TransferTimeout,
		AllowAdhocTransfers: cfg.AllowAdhoc,
		Policy:              policy,
		AllowedSources:      sources,
		DefaultWebhookURL:   cfg.WebhookURL,
		CommandsPerMinute:   cfg.CallCommands,
		ConfirmTimeout:      cfg.ElicitationTimeout,
	}, store, store, core.NewBus(), logger)
	// Calls a previous process held are over: it is gone, and so are
	// they. Each is ended as any call ends, with its webhooks.
	if n, err := calls.RecoverAfterRestart(ctx); err != nil {
		return fmt.Errorf("close calls of the previous run: %w", err)
	} else if n > 0 {
		logger.Warn("calls of a previous run recorded as ended", "calls", n)
	}

	// The metrics read the trunk monitor, made once the SIP user agent is.
	var monitor *core.TrunkMonitor
	mets := metrics.New(metrics.Sources{
		LiveCalls: calls.LiveCount,
		WebhookQueue: func(ctx context.Context) (int, error) {
			_, n, err := store.ListDeliveries(ctx, core.DeliveryFilter{Status: core.DeliveryPending, Page: core.Page{Limit: 1}})
			return n, err
		},
		TrunkHealth: func() map[string]core.TrunkHealth { return monitor.Snapshot() },
	})
	mets.Start(bg, calls.Bus())

	dispatcher := webhooks.NewDispatcher(store, func(ctx context.Context, assistantID string) (string, error) {
		a, err := store.GetAssistant(ctx, assistantID)
		return a.WebhookSecret, err
	}, webhooks.Config{
		DefaultSecret: cfg.WebhookSecret,
		MaxAge:        cfg.WebhookMaxAge,
		Concurrency:   cfg.WebhookConcurrency,
		Timeout:       cfg.WebhookTimeout,
		UserAgent:     "voicedock/" + version(),
		OnAttempt:     mets.WebhookAttempt,
		Client:        grd.webhooks,
	}, logger)
	calls.SetAssistantRequester(dispatcher)
	dispatcherDone := make(chan error, 1)
	go func() { dispatcherDone <- dispatcher.Run(bg) }()
	// Every event is published after its deliveries are committed: wake
	// the dispatcher for it.
	wake := calls.Bus().Subscribe(nil)
	go func() {
		for range wake.C {
			dispatcher.Notify()
		}
	}()
	defer wake.Close()
	mediaEngine := cfg.media(logger, grd)
	calls.SetMedia(mediaEngine)
	go mediaEngine.Run(bg)
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
		OnMessage: mets.SIPMessage,
		Media:     mediaEngine,
	}, calls, logger)
	if err != nil {
		return fmt.Errorf("SIP: %w", err)
	}
	calls.SetSignaling(ua)
	monitor = core.NewTrunkMonitor(store, ua, cfg.TrunkProbeTimeout, logger)
	svc.SetTrunkHealth(monitor)

	deliveries := core.NewDeliveries(store, dispatcher.Notify)
	toolList := tools.All(tools.Deps{
		Config: svc, Calls: calls, Deliveries: deliveries,
		Trunks: monitor, Stats: core.NewStatistics(store),
	})
	srv, err := server.New(toolList, server.Options{
		Name: "voicedock", Version: version(), Logger: logger, Calls: calls, Config: svc,
		OnToolCall: mets.ToolCall,
	})
	if err != nil {
		return err
	}
	mcp := srv.MCP
	if cfg.DebugAddr != "" {
		debugCtx, stopDebug := context.WithCancel(ctx)
		defer stopDebug()
		go func() {
			if err := serveDebug(debugCtx, cfg.DebugAddr, logger); err != nil {
				logger.Error("debug listener", "err", err)
			}
		}()
	}
	logger.Info("voicedock starting", "transport", *mode, "data_dir", cfg.DataDir, "version", version())

	// The SIP user agent runs beside the MCP transport; when either stops,
	// both do, and live calls are ended with BYE before the store closes.
	sipCtx, stopSIP := context.WithCancel(ctx)
	sipReady := make(chan struct{})
	sipDone := make(chan error, 1)
	go func() {
		sipDone <- ua.Serve(sipCtx, func() {
			logger.Info("sip listening", "addr", ua.LocalAddr().String(), "transports", strings.Join(cfg.SIPTransports, ","))
			close(sipReady)
		})
	}()
	select {
	case <-sipReady:
	case err := <-sipDone:
		stopSIP()
		return fmt.Errorf("SIP: %w", err)
	}

	mcpCtx, stopMCP := context.WithCancel(ctx)
	defer stopMCP()
	go srv.Run(mcpCtx)
	go monitor.Run(mcpCtx, cfg.TrunkProbeInterval)
	if cfg.MetricsAddr != "" {
		// A metrics listener that cannot start stops the server, as the
		// MCP listener does: a scrape target that silently is not there
		// would look like a dead server.
		metricsUp := make(chan struct{})
		metricsErr := make(chan error, 1)
		go func() {
			metricsErr <- transport.ServeMetrics(mcpCtx, cfg.MetricsAddr, mets.Handler(), keys, logger, func(addr net.Addr) {
				logger.Info("metrics listening", "addr", addr.String(), "url", "http://"+addr.String()+transport.MetricsPath)
				close(metricsUp)
			})
		}()
		select {
		case <-metricsUp:
		case err := <-metricsErr:
			stopMCP()
			_ = ua.Shutdown(context.WithoutCancel(ctx))
			stopSIP()
			<-sipDone
			stopBackground()
			<-dispatcherDone
			return fmt.Errorf("metrics: %w", err)
		}
	}
	unixDone := serveOwnerSocket(mcpCtx, mcp, lock, socketPath, socketErr, cfg, logger)
	mcpDone := make(chan error, 1)
	go func() {
		if *mode == "stdio" {
			mcpDone <- transport.ServeStdio(mcpCtx, mcp, stdin, stdout, logger)
			return
		}
		mcpDone <- transport.ServeHTTP(mcpCtx, mcp, transport.HTTPConfig{
			Addr:           cfg.HTTPAddr,
			Keys:           keys,
			AllowedOrigins: cfg.AllowedOrigins,
			MaxBodyBytes:   cfg.MaxBodyBytes,
			// 0 turns the limit off; HTTPConfig takes a negative for that.
			RateLimitPerMinute: cmp.Or(cfg.RateLimit, -1),
			WriteTools:         server.WriteTools(toolList),
			ConsolePage:        console.NewPage(transport.ConsolePath),
			ConsoleEvents:      console.NewEvents(mcpCtx.Done(), calls.Bus(), calls, console.EventsConfig{}, logger),
			Metrics:            mets.Handler(),
			OAuth:              grd.oauth,
		}, logger, func(addr net.Addr) {
			logger.Info("mcp http listening", "addr", addr.String(), "url", "http://"+addr.String()+"/mcp")
			logger.Info("console", "url", "http://"+addr.String()+transport.ConsolePath)
		})
	}()

	var runErr error
	sipStopped := func(err error) error {
		sipDone <- err
		if err == nil {
			err = errors.New("the SIP user agent stopped")
		}
		return fmt.Errorf("SIP: %w", err)
	}
	select {
	case runErr = <-mcpDone:
		if *mode == "stdio" && runErr == nil && cfg.KeepRunning && ctx.Err() == nil {
			logger.Info("the stdio client has gone; serving attached clients until SIGTERM or SIGINT", "socket", socketPath)
			select {
			case <-ctx.Done():
			case err := <-sipDone:
				runErr = sipStopped(err)
			}
		}
	case err := <-sipDone:
		runErr = sipStopped(err)
	}
	stopMCP()
	<-unixDone
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := ua.Shutdown(shutdownCtx); err != nil {
		logger.Warn("SIP shutdown", "err", err)
	}
	stopSIP()
	<-sipDone
	calls.Shutdown(shutdownCtx)
	// The dispatcher stops last, after the final events were written;
	// what it has not sent stays in the outbox for the next start.
	stopBackground()
	<-dispatcherDone
	logger.Info("voicedock stopped")
	return runErr
}

// serveOwnerSocket serves MCP on the data directory's Unix socket for
// attached clients until ctx ends, and tells waiting processes the owner is
// ready. Without a socket (the path is too long, or it cannot listen) the
// server runs on: only attaching is off, and attachers say why.
func serveOwnerSocket(ctx context.Context, mcp *mcpserver.MCPServer, lock *owner.Lock, path string, pathErr error, cfg config, logger *slog.Logger) <-chan struct{} {
	done := make(chan struct{})
	info := owner.Info{PID: os.Getpid(), Version: version(), StartedAt: time.Now().UTC()}
	if pathErr != nil {
		logger.Warn("no socket for other clients to attach to", "err", pathErr)
		if err := lock.Ready(info); err != nil {
			logger.Warn("owner info", "err", err)
		}
		close(done)
		return done
	}
	go func() {
		defer close(done)
		ready := false
		err := transport.ServeUnix(ctx, mcp, path, transport.HTTPConfig{
			MaxBodyBytes: cfg.MaxBodyBytes,
			// The socket's clients are this user's own agents, like the
			// stdio client: no per-client request limit (the per-call
			// command limit still applies).
			RateLimitPerMinute: -1,
		}, logger, func(net.Addr) {
			ready = true
			info.Socket, info.URL = path, ownerURL
			if err := lock.Ready(info); err != nil {
				logger.Warn("owner info", "err", err)
			}
			logger.Info("mcp socket listening", "socket", path)
		})
		if err != nil {
			logger.Warn("no socket for other clients to attach to", "err", err)
			if !ready {
				_ = lock.Ready(info)
			}
		}
	}()
	return done
}

func writeSchemas(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("schemas", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "schemas", "directory to write the schema files into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	files, err := schemas.Generate(tools.All(tools.Deps{}))
	if err != nil {
		return err
	}
	n, err := files.Write(*dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d schema files to %s\n", n, *dir)
	return nil
}
