package main

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/voicedock/voicedock/console"
	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/server"
	"github.com/voicedock/voicedock/transport"
)

// shutdownTimeout bounds ending the live calls and recording them.
const shutdownTimeout = 10 * time.Second

// errClientGone ends the run of a stdio server whose client has gone.
var errClientGone = errors.New("the MCP client has gone")

// run serves until ctx ends (SIGTERM, SIGINT), the stdio client goes (unless
// VOICEDOCK_KEEP_RUNNING), or a component stops by itself, and then shuts
// down in one order (see shutdown). It returns why it ended: nil for ctx
// or the client, else the component's error.
func (a *app) run(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	a.logger.Info("voicedock starting", "transport", a.mode, "data_dir", a.cfg.DataDir, "version", version())
	running, end := context.WithCancelCause(ctx)
	defer end(nil)
	// The stages stop when shutdown says, in its order, not all at once
	// when ctx ends.
	stages := context.WithoutCancel(ctx)

	a.startBackground()
	sipStage := newStage(stages, end)
	err := sipStage.service("SIP", "the SIP user agent", func(ctx context.Context, ready func()) error {
		return a.ua.Serve(ctx, func() {
			a.logger.Info("sip listening", "addr", a.ua.LocalAddr().String(), "transports", strings.Join(a.cfg.SIPTransports, ","))
			ready()
		})
	})
	var listeners *stage
	if err == nil {
		listeners = newStage(stages, end)
		err = a.startListeners(listeners, stdin, stdout)
	}
	if err == nil {
		<-running.Done()
		err = context.Cause(running)
		if errors.Is(err, errClientGone) || ctx.Err() != nil && err == context.Cause(ctx) {
			err = nil
		}
	}
	a.shutdown(ctx, listeners, sipStage)
	return err
}

// startBackground starts the workers that outlive requests: webhook
// delivery, the media keepalives, the metrics' event counts.
func (a *app) startBackground() {
	s := a.background
	s.task(func(ctx context.Context) {
		if err := a.dispatcher.Run(ctx); err != nil {
			a.logger.Error("webhook dispatcher", "err", err)
		}
	})
	// Every event is published after its deliveries are committed: wake
	// the dispatcher for it.
	wake := a.calls.Bus().Subscribe(nil)
	s.task(func(ctx context.Context) {
		defer wake.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-wake.C:
				if !ok {
					return
				}
				a.dispatcher.Notify()
			}
		}
	})
	s.task(a.media.Run)
	if shared, ok := a.store.(core.ConfigChanges); ok {
		// Other nodes change the configuration too: drop what this one
		// cached of it at each of their changes.
		s.task(func(ctx context.Context) {
			if err := a.configuration.FollowChanges(ctx, shared); err != nil {
				a.logger.Error("configuration changes of other nodes", "err", err)
			}
		})
	}
	a.metrics.Start(s.ctx, a.calls.Bus())
	if a.conversations != nil {
		// Start subscribes before it returns, so the loop sees every call
		// from its start: this runs before SIP takes calls.
		done := a.conversations.Start(s.ctx)
		s.task(func(context.Context) { <-done })
	}
}

// startListeners starts what MCP clients (and scrapers) reach: the MCP
// server's resource feed, the trunk probes, the metrics listener, the
// owner socket for attached clients, the MCP transport, the debug
// listener.
func (a *app) startListeners(s *stage, stdin io.Reader, stdout io.Writer) error {
	cfg := a.cfg
	s.task(a.mcp.Run)
	s.task(func(ctx context.Context) { a.monitor.Run(ctx, cfg.TrunkProbeInterval) })
	if cfg.MetricsAddr != "" {
		// A metrics listener that cannot start stops the server, as the
		// MCP listener does: a scrape target that silently is not there
		// would look like a dead server.
		err := s.service("metrics", "the metrics listener", func(ctx context.Context, ready func()) error {
			return transport.ServeMetrics(ctx, transport.HTTPConfig{
				Addr:               cfg.MetricsAddr,
				Keys:               a.keys,
				AllowedOrigins:     cfg.AllowedOrigins,
				RateLimitPerMinute: cmp.Or(cfg.RateLimit, -1),
				SharedRateLimit:    a.sharedRateLimit(),
				Metrics:            a.metrics.Handler(),
			}, a.logger, func(addr net.Addr) {
				a.logger.Info("metrics listening", "addr", addr.String(), "url", "http://"+addr.String()+transport.MetricsPath)
				ready()
			})
		})
		if err != nil {
			return err
		}
	}
	a.serveOwnerSocket(s)
	s.task(func(ctx context.Context) { a.serveMCP(ctx, s.end, stdin, stdout) })
	if cfg.DebugAddr != "" {
		s.task(func(ctx context.Context) {
			if err := serveDebug(ctx, cfg.DebugAddr, a.logger); err != nil {
				a.logger.Error("debug listener", "err", err)
			}
		})
	}
	return nil
}

// serveMCP serves the MCP transport until ctx ends, and ends the run when
// it stops by itself: with its error, or, for a stdio client that has
// gone, normally (unless VOICEDOCK_KEEP_RUNNING keeps serving the attached
// clients).
func (a *app) serveMCP(ctx context.Context, end context.CancelCauseFunc, stdin io.Reader, stdout io.Writer) {
	cfg := a.cfg
	var err error
	if a.mode == "stdio" {
		err = transport.ServeStdioAnswering(ctx, a.mcp.MCP, a.mcp.AnswerStoredTask, stdin, stdout, a.logger)
	} else {
		err = transport.ServeHTTP(ctx, a.mcp.MCP, transport.HTTPConfig{
			Addr:           cfg.HTTPAddr,
			Keys:           a.keys,
			AllowedOrigins: cfg.AllowedOrigins,
			MaxBodyBytes:   cfg.MaxBodyBytes,
			// 0 turns the limit off; HTTPConfig takes a negative for that.
			RateLimitPerMinute: cmp.Or(cfg.RateLimit, -1),
			SharedRateLimit:    a.sharedRateLimit(),
			WriteTools:         server.WriteTools(a.tools),
			DirectTools:        server.DirectTools(a.tools),
			ConsolePage:        console.NewPage(transport.ConsolePath),
			ConsoleEvents:      console.NewEvents(ctx.Done(), a.calls.Bus(), a.calls, console.EventsConfig{}, a.logger),
			Metrics:            a.metrics.Handler(),
			AnswerStored:       a.mcp.AnswerStoredTask,
			OAuth:              a.guards.oauth,
			NodeKey:            a.nodeKey(),
		}, a.logger, func(addr net.Addr) {
			a.logger.Info("mcp http listening", "addr", addr.String(), "url", "http://"+addr.String()+transport.MCPPath)
			a.logger.Info("console", "url", "http://"+addr.String()+transport.ConsolePath)
		})
	}
	switch {
	case ctx.Err() != nil:
		// Stopped by the shutdown.
	case err != nil:
		end(err)
	case a.mode == "stdio" && cfg.KeepRunning:
		a.logger.Info("the stdio client has gone; serving attached clients until SIGTERM or SIGINT", "socket", a.socketPath())
	default:
		end(errClientGone)
	}
}

// shutdown stops the server in its one order, whatever ended the run (a
// nil stage never started):
//
//  1. the listeners: no MCP request, attached client or scrape comes in;
//  2. SIP: new calls are refused, and the live calls end (BYE, recorded
//     as ended with server_shutdown), as the user agent's Shutdown says;
//  3. the calls the core still holds are recorded ended;
//  4. the tool calls run as tasks, which those ends ended, store their
//     results;
//  5. the background workers: webhook delivery stops after the final
//     events were written (what it has not sent stays in the outbox for
//     the next start).
//
// Then close closes the store, which nothing writes to any more.
func (a *app) shutdown(ctx context.Context, listeners, sip *stage) {
	listeners.stop()
	a.logger.Info("shutdown: stopped", "component", "mcp")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	sip.stopWith(func() {
		if err := a.ua.Shutdown(sctx); err != nil {
			a.logger.Warn("SIP shutdown", "err", err)
		}
	})
	a.logger.Info("shutdown: stopped", "component", "sip")
	a.calls.Shutdown(sctx)
	a.logger.Info("shutdown: stopped", "component", "calls")
	if running := a.mcp.WaitTasks(sctx); running > 0 {
		a.logger.Warn("shutdown: tasks still running; their results are not stored", "tasks", running)
	} else {
		a.logger.Info("shutdown: stopped", "component", "tasks")
	}
	a.background.stop()
	a.logger.Info("shutdown: stopped", "component", "webhooks")
}
