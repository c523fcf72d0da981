package transport

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/mark3labs/mcp-go/server"

	vdserver "github.com/voicedock/voicedock/server"
)

// ServeStdio serves the MCP server on in (requests, one JSON-RPC message a
// line) and out (responses and notifications) until in reaches EOF or ctx
// is done; both end it without error. Only MCP messages are written to out:
// mcp-go's own diagnostics go to logger. Every request carries the stdio
// [Caller] (key "stdio", scope write).
//
// mcp-go keeps the stdio session in a package-level variable, so only one
// ServeStdio may run in a process at a time. When ctx ends first, a
// goroutine stays blocked reading in until in is closed.
func ServeStdio(ctx context.Context, mcpServer *server.MCPServer, in io.Reader, out io.Writer, logger *slog.Logger) error {
	if mcpServer == nil {
		return errors.New("transport: nil MCP server")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := server.NewStdioServer(mcpServer)
	s.SetErrorLogger(slog.NewLogLogger(logger.Handler(), slog.LevelError))
	tracker := vdserver.NewDeliveryTracker()
	s.SetContextFunc(func(ctx context.Context) context.Context {
		return vdserver.WithDeliveryTracker(WithCaller(ctx, stdioCaller), tracker)
	})
	logger.Info("serving MCP over stdio")
	err := s.Listen(ctx, in, &progressWatcher{w: out, tracker: tracker})
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		err = nil
	}
	if err != nil {
		logger.Error("stdio transport stopped", "err", err)
		return err
	}
	logger.Info("stdio transport stopped")
	return nil
}

// progressWatcher passes mcp-go's writes through (one JSON-RPC message a
// write) and tells the tracker when a progress notification is out, so
// that the result of its request is written after it.
type progressWatcher struct {
	w       io.Writer
	tracker *vdserver.DeliveryTracker
}

func (p *progressWatcher) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	noteProgressWritten(p.tracker, b)
	return n, err
}
