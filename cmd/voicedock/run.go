package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/voicedock/voicedock/core"
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

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
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
	// Calls a previous process held are over: it is gone, and so are they.
	if n, err := store.EndLiveCalls(ctx, core.EndShutdown, time.Now().UTC()); err != nil {
		return fmt.Errorf("close calls of the previous run: %w", err)
	} else if n > 0 {
		logger.Warn("calls of a previous run recorded as ended", "calls", n)
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
	svc := core.NewService(store, logger)
	svc.SetPolicy(policy)
	calls := core.NewCalls(bg, core.CallsConfig{
		TransferTimeout:     cfg.TransferTimeout,
		AllowAdhocTransfers: cfg.AllowAdhoc,
		Policy:              policy,
		AllowedSources:      sources,
		DefaultWebhookURL:   cfg.WebhookURL,
		CommandsPerMinute:   cfg.CallCommands,
		ConfirmTimeout:      cfg.ElicitationTimeout,
	}, store, store, core.NewBus(), logger)

	dispatcher := webhooks.NewDispatcher(store, func(ctx context.Context, assistantID string) (string, error) {
		a, err := store.GetAssistant(ctx, assistantID)
		return a.WebhookSecret, err
	}, webhooks.Config{
		DefaultSecret: cfg.WebhookSecret,
		MaxAge:        cfg.WebhookMaxAge,
		Concurrency:   cfg.WebhookConcurrency,
		Timeout:       cfg.WebhookTimeout,
		UserAgent:     "voicedock/" + version(),
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
	ua, err := sip.New(sip.Config{
		Addr:       cfg.SIPAddr,
		Transports: cfg.SIPTransports,
		TLSCert:    cfg.SIPTLSCert,
		TLSKey:     cfg.SIPTLSKey,
		PublicAddr: cfg.SIPPublicAddr,
		RTPPortMin: cfg.RTPPortMin,
		RTPPortMax: cfg.RTPPortMax,
		UserAgent:  "voicedock/" + version(),
		// 0 turns these off; sip.Config takes a negative for that.
		RateLimit: cmp.Or(cfg.SIPRateLimit, -1),
		MaxCalls:  cmp.Or(cfg.MaxCalls, -1),
	}, calls, logger)
	if err != nil {
		return fmt.Errorf("SIP: %w", err)
	}
	calls.SetSignaling(ua)

	deliveries := core.NewDeliveries(store, dispatcher.Notify)
	toolList := tools.All(tools.Deps{Config: svc, Calls: calls, Deliveries: deliveries})
	srv, err := server.New(toolList, server.Options{
		Name: "voicedock", Version: version(), Logger: logger, Calls: calls, Config: svc,
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
		}, logger, func(addr net.Addr) {
			logger.Info("mcp http listening", "addr", addr.String(), "url", "http://"+addr.String()+"/mcp")
		})
	}()

	var runErr error
	select {
	case runErr = <-mcpDone:
	case runErr = <-sipDone:
		sipDone <- runErr
		if runErr == nil {
			runErr = errors.New("the SIP user agent stopped")
		}
		runErr = fmt.Errorf("SIP: %w", runErr)
	}
	stopMCP()
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
