package bridge

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// Run bridges in (the client's messages, one a line) and out (the server's,
// one a line) to the server cfg names, until in ends (nil), ctx ends (nil),
// or the server stops answering (an error saying so, after every request
// in flight was answered with [GoneCode]). The package documentation says
// what passes and how.
func Run(ctx context.Context, cfg Config, in io.Reader, out io.Writer, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Server == "" {
		cfg.Server = "the MCP server at " + cfg.URL
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b := &bridge{
		cfg:      cfg,
		logger:   logger,
		ctx:      ctx,
		out:      out,
		inflight: map[string]*pending{},
		tokens:   map[string]*pending{},
		tools:    map[string]*mcp.Tool{},
		gone:     make(chan struct{}),
	}
	lines := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		r := bufio.NewReaderSize(in, 64<<10)
		for {
			line, err := r.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				select {
				case lines <- line:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				readErr <- err
				return
			}
		}
	}()

	interval := cmp.Or(cfg.keepAlive, defaultKeepAlive)
	keepAlive := time.NewTicker(interval)
	defer keepAlive.Stop()
	var result error
loop:
	for {
		select {
		case line := <-lines:
			b.send(line)
			keepAlive.Reset(interval)
		case <-keepAlive.C:
			b.ping()
		case <-cfg.Gone:
			b.fail(fmt.Errorf("%s has exited", cfg.Server))
		case err := <-readErr:
			if err != nil {
				result = fmt.Errorf("bridge: read stdin: %w", err)
			}
			logger.Info("bridge: client closed its input")
			break loop
		case <-b.gone:
			result = b.goneErr
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	cancel()
	b.wg.Wait()
	b.endSession()
	if result == nil {
		// The server may have gone while the last requests ended.
		select {
		case <-b.gone:
			result = b.goneErr
		default:
		}
	}
	return result
}

type bridge struct {
	cfg    Config
	logger *slog.Logger
	ctx    context.Context
	wg     sync.WaitGroup

	mu       sync.Mutex // guards what follows, and out
	out      io.Writer
	session  string
	version  string // negotiated by initialize (legacy protocol)
	listen   bool   // the GET stream is running
	pings    int    // keep-alive pings sent
	inflight map[string]*pending
	tokens   map[string]*pending  // in-flight requests by progress token
	tools    map[string]*mcp.Tool // for Mcp-Param-* headers (2026-07-28)
	gone     chan struct{}
	goneErr  error
}

// pending is a request sent on and not answered yet.
type pending struct {
	id     json.RawMessage
	method string
	cancel context.CancelFunc
	modern bool
	// token is the request's progress token (idKey form), or "".
	token string
	// progress is the last progress value passed to the client.
	progress float64
	// own marks the bridge's own requests (keep-alive pings): their
	// answers are not the client's.
	own bool
}
