package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/voicedock/voicedock/owner"
	"github.com/voicedock/voicedock/schemas"
	"github.com/voicedock/voicedock/tools"
	"github.com/voicedock/voicedock/transport"
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
VOICEDOCK_DATABASE_URL, VOICEDOCK_ALLOWED_ORIGINS, VOICEDOCK_HTTP_MAX_BODY_BYTES.
See the README.
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
	setGCLimits(cfg.MaxCalls, logger)
	app, err := newApp(ctx, cfg, *mode, keys, lock, logger)
	if err != nil {
		return err
	}
	err = app.run(ctx, stdin, stdout)
	app.close()
	logger.Info("voicedock stopped")
	return err
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
