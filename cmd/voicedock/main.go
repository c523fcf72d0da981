// Command voicedock is the VoiceDock transfer server: an MCP server (stdio
// or streamable HTTP) through which AI agents configure assistants, SIP
// trunks and phone numbers, and move live phone calls to humans.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// A server that outlives its stdio client (--detach-on-exit) must not
	// die of SIGPIPE when it next logs to the client's closed stderr: the
	// write fails with EPIPE instead, and the log line is lost.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
