package transport

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"

	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/voicedock/voicedock/server"
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
func ServeStdio(ctx context.Context, mcpServer *mcpserver.MCPServer, in io.Reader, out io.Writer, logger *slog.Logger) error {
	return ServeStdioAnswering(ctx, mcpServer, nil, in, out, logger)
}

// ServeStdioAnswering is ServeStdio with answer, when not nil, asked
// first about each message (see [StoredAnswerer]; stdio has no session).
func ServeStdioAnswering(ctx context.Context, mcpServer *mcpserver.MCPServer, answer StoredAnswerer, in io.Reader, out io.Writer, logger *slog.Logger) error {
	if mcpServer == nil {
		return errors.New("transport: nil MCP server")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := mcpserver.NewStdioServer(mcpServer)
	s.SetErrorLogger(slog.NewLogLogger(logger.Handler(), slog.LevelError))
	tracker := server.NewDeliveryTracker()
	s.SetContextFunc(func(ctx context.Context) context.Context {
		return server.WithDeliveryTracker(WithCaller(ctx, stdioCaller), tracker)
	})
	logger.Info("serving MCP over stdio")
	w := &progressWatcher{w: out, tracker: tracker}
	if answer != nil {
		in = &answeringReader{ctx: WithCaller(ctx, stdioCaller), lines: bufio.NewReader(in), answer: answer, out: w}
	}
	err := s.Listen(ctx, in, w)
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
	mu      sync.Mutex // mcp-go's writes and answeringReader's, one message each
	w       io.Writer
	tracker *server.DeliveryTracker
}

func (p *progressWatcher) Write(b []byte) (int, error) {
	p.mu.Lock()
	n, err := p.w.Write(b)
	p.mu.Unlock()
	noteProgressWritten(p.tracker, b)
	return n, err
}

// answeringReader passes stdin's lines (one JSON-RPC message each) to
// mcp-go, except those answer answers: their responses go straight to out.
type answeringReader struct {
	ctx    context.Context
	lines  *bufio.Reader
	answer StoredAnswerer
	out    io.Writer
	rest   []byte // what mcp-go has still to read of the current line
}

func (a *answeringReader) Read(p []byte) (int, error) {
	for len(a.rest) == 0 {
		line, err := a.lines.ReadBytes('\n')
		if len(line) > 0 {
			if resp, ok := a.answer(a.ctx, line, ""); ok {
				if _, werr := a.out.Write(append(resp, '\n')); werr != nil {
					return 0, werr
				}
			} else {
				a.rest = line
			}
		}
		if err != nil && len(a.rest) == 0 {
			return 0, err
		}
		if err != nil {
			break
		}
	}
	n := copy(p, a.rest)
	a.rest = a.rest[n:]
	return n, nil
}
