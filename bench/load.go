package main

import (
	"context"
	"fmt"
	"log"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/sip"
)

// steadyResult is the webhook steady state: transfers over MCP at the best
// rate, with the outbox's pending deliveries counted after a warm-up and
// at the end. A dispatcher that keeps pace ends with no more pending than
// it started with.
type steadyResult struct {
	Rate                     int
	Dur, Warm                time.Duration
	PendingStart, PendingEnd int
	// Received is the deliveries the bench's receiver got between the two
	// counts, and PerSec that over the time between them.
	Received int64
	PerSec   float64
	// RefusedInvites are the calls refused with 503 (new calls refused
	// while the server is behind), which the callers take as a clean end.
	RefusedInvites int
	Step           stepResult
}

// String is the result's figures without the transferred calls' ids.
func (r steadyResult) String() string {
	return fmt.Sprintf("{Rate:%d Dur:%s Warm:%s PendingStart:%d PendingEnd:%d Received:%d PerSec:%.0f Calls:%d RefusedInvites:%d Successful:%d Failed:%d TransferErrors:%d P50:%s P99:%s CPU:%.0f%% RSS:%.0fMiB}",
		r.Rate, r.Dur, r.Warm, r.PendingStart, r.PendingEnd, r.Received, r.PerSec, r.Step.Calls, r.RefusedInvites, r.Step.Successful, r.Step.Failed,
		r.Step.TransferErrors, r.Step.P50.Round(time.Millisecond), r.Step.P99.Round(time.Millisecond), r.Step.CPU, r.Step.RSS)
}

// keptPace: the pending count did not grow over the steady state by more
// than a second of deliveries (those in flight or just written when it was
// read: a count of 25 then 26 is not a backlog).
func (r steadyResult) keptPace() bool {
	return r.Step.Calls > 0 && r.PendingStart >= 0 && r.PendingEnd >= 0 && r.PendingEnd <= r.PendingStart+int(r.PerSec)
}

// overloadResult is the server at twice its best rate with its capacity
// limits at their defaults.
type overloadResult struct {
	Rate, Best             int
	Dur                    time.Duration
	MaxCalls, MaxTransfers int
	Step                   stepResult
	// Answered is the calls the server answered; RefusedInvites those
	// the callers saw refused with 503 + Retry-After (successful in sipp,
	// never answered); RefusedTransfers the transfer_call results
	// `overloaded` (each retried after its retry_after, as an agent would).
	Answered         int64
	RefusedInvites   int
	RefusedTransfers int64
	// CallerGone is the transfers that failed because their caller had
	// hung up (sipp gave up waiting for the REFER): sipp counts that call
	// as failed already, so it is one failure, not two.
	CallerGone int64
	// BudgetMiB is 300 MiB plus 30 KiB per call the server may hold.
	BudgetMiB float64
}

// failures are answered calls that failed in sipp (dropped, or never
// transferred) and transfers that ended in an error other than a refusal.
func (r overloadResult) failures() int {
	return r.Step.Failed + r.Step.TransferErrors - int(r.CallerGone)
}

// String is the result's figures without the transferred calls' ids.
func (r overloadResult) String() string {
	return fmt.Sprintf("{Rate:%d Best:%d Dur:%s MaxCalls:%d MaxTransfers:%d Calls:%d Answered:%d RefusedInvites:%d RefusedTransfers:%d "+
		"Transferred:%d SippFailed:%d TransferErrors:%d CallerGone:%d Failures:%d FirstError:%q P50:%s P99:%s Wall:%s CPU:%.0f%% RSS:%.0fMiB BudgetMiB:%.0f}",
		r.Rate, r.Best, r.Dur, r.MaxCalls, r.MaxTransfers, r.Step.Calls, r.Answered, r.RefusedInvites, r.RefusedTransfers,
		len(r.Step.Transferred), r.Step.Failed, r.Step.TransferErrors, r.CallerGone, r.failures(), r.Step.FirstError,
		r.Step.P50.Round(time.Millisecond), r.Step.P99.Round(time.Millisecond), r.Step.Wall.Round(100*time.Millisecond), r.Step.CPU, r.Step.RSS, r.BudgetMiB)
}

func (r overloadResult) met() bool {
	return r.Step.Calls > 0 && r.failures() == 0 && r.Step.RSS < r.BudgetMiB
}

// loadPhases runs the webhook steady state at the best rate over MCP and
// the overload phase at twice it, each on a fresh server.
func (b *bench) loadPhases(ctx context.Context, bin string, hooks *webhookCounter, res *results) error {
	best := res.MCP.Best
	if best == 0 {
		best = b.rates[0]
	}
	steadyDur, warm, overDur := 60*time.Second, 10*time.Second, 30*time.Second
	if b.quick {
		steadyDur, warm, overDur = 6*time.Second, time.Second, 5*time.Second
	}
	steady, err := b.steadyState(ctx, bin, hooks, best, steadyDur, warm, true)
	if err != nil {
		return err
	}
	res.Steady = steady
	// A best rate whose webhooks fall behind is one the server holds for
	// a 10 s step by leaving its deliveries for later: the rate below it
	// on the ramp says what it sustains with them.
	// Half as long: it only says how far below the best the deliveries
	// fall behind, and the suite has to stay under ten minutes.
	if below := b.rateBelow(best); !steady.keptPace() && below > 0 {
		sustained, err := b.steadyState(ctx, bin, hooks, below, steadyDur/2, warm, false)
		if err != nil {
			return err
		}
		res.SteadyBelow = &sustained
	}
	over, err := b.overload(ctx, bin, hooks, best, overDur, sip.DefaultMaxCalls, core.DefaultMaxTransfersInFlight)
	if err != nil {
		return err
	}
	res.Overload = over
	return nil
}

// rateBelow is the ramp's rate below rate, 0 when there is none.
func (b *bench) rateBelow(rate int) int {
	below := 0
	for _, r := range b.rates {
		if r < rate {
			below = max(below, r)
		}
	}
	return below
}

// mcpServer is a fresh server binary with its admin client, configured,
// and a pool of MCP sessions.
type mcpServer struct {
	s          *serverProc
	admin      *client.Client
	pool       *clientPool
	targetPort int
}

func (b *bench) freshServer(ctx context.Context, bin, name string, hooks *webhookCounter, extra ...string) (*mcpServer, error) {
	dataDir := filepath.Join(b.tmp, name)
	s, err := startServer(ctx, bin, dataDir, serverEnv(dataDir, hooks.url, extra...))
	if err != nil {
		return nil, err
	}
	m := &mcpServer{s: s, targetPort: b.ports.free(1)}
	if m.admin, err = dialMCP(ctx, s.mcpURL); err != nil {
		m.close()
		return nil, err
	}
	if err := configure(ctx, m.admin, m.targetPort); err != nil {
		m.close()
		return nil, err
	}
	if m.pool, err = newClientPool(ctx, s.mcpURL, 16); err != nil {
		m.close()
		return nil, err
	}
	return m, nil
}

func (m *mcpServer) close() {
	if m.pool != nil {
		m.pool.close()
	}
	if m.admin != nil {
		m.admin.Close()
	}
	m.s.stop()
}

func (m *mcpServer) target(name string) transferTarget {
	return transferTarget{
		name:     name,
		sipAddr:  func() string { return m.s.sipAddr },
		answered: m.s.answered,
		transfer: func(ctx context.Context, id string) error {
			_, err := callTool(ctx, m.pool.get(), "transfer_call", map[string]any{"call_id": id, "destination": salesNumber})
			return err
		},
		pid:    m.s.pid,
		drain:  m.s.drainAnswered,
		settle: (&settler{live: mcpLive(m.admin)}).settle,
	}
}

func (b *bench) steadyState(ctx context.Context, bin string, hooks *webhookCounter, rate int, dur, warm time.Duration, profile bool) (steadyResult, error) {
	r := steadyResult{Rate: rate, Dur: dur, Warm: warm, PendingStart: -1, PendingEnd: -1}
	m, err := b.freshServer(ctx, bin, fmt.Sprintf("steady-%d", rate), hooks)
	if err != nil {
		return r, err
	}
	defer m.close()
	log.Printf("webhook steady state: %d transfers/s for %s", rate, dur)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		select {
		case <-ctx.Done():
			return
		case <-time.After(warm):
		}
		r.PendingStart, _ = outbox(ctx, m.admin)
		got0, t0 := hooks.received.Load(), time.Now()
		prof := filepath.Join(b.tmp, "webhooks-cpu.pb.gz")
		go func() {
			if !profile {
				return
			}
			secs := max(1, int((dur-warm).Seconds())-2)
			if err := m.s.profile(fmt.Sprintf("profile?seconds=%d", secs), prof); err != nil {
				log.Printf("webhook steady state: CPU profile: %v", err)
				return
			}
			b.pprofTop(bin, prof, filepath.Join(b.profDir, "webhooks-cpu-cum.txt"), "-cum")
		}()
		select {
		case <-ctx.Done():
			return
		case <-time.After(dur - warm):
		}
		r.PendingEnd, _ = outbox(ctx, m.admin)
		r.Received = hooks.received.Load() - got0
		r.PerSec = float64(r.Received) / time.Since(t0).Seconds()
	}()
	// The caps are off (the target is what the webhooks make of this
	// rate), but new calls are still refused near the open-file limit: the
	// callers take that 503 as a clean end, counted apart.
	t := m.target("webhook steady state")
	t.callerScenario = "uac_transfer_or_busy.xml"
	st, err := b.transferStep(ctx, t, m.targetPort, rate, dur)
	<-sampled
	r.Step = st
	r.RefusedInvites = max(0, st.Successful-len(st.Transferred))
	log.Printf("webhook steady state: outbox pending %d after %s, %d at %s; %.0f deliveries/s received",
		r.PendingStart, warm, r.PendingEnd, dur, r.PerSec)
	return r, err
}

// overloadRetryFor bounds how long a refused transfer is retried: the
// callers wait 30 s for their REFER.
const overloadRetryFor = 25 * time.Second

// overload calls a fresh server with the given capacity at twice best.
func (b *bench) overload(ctx context.Context, bin string, hooks *webhookCounter, best int, dur time.Duration, maxCalls, maxTransfers int) (overloadResult, error) {
	r := overloadResult{Rate: 2 * best, Best: best, Dur: dur, MaxCalls: maxCalls, MaxTransfers: maxTransfers}
	r.BudgetMiB = 300 + 30*float64(r.MaxCalls)/1024
	m, err := b.freshServer(ctx, bin, "overload", hooks,
		"VOICEDOCK_MAX_CALLS="+strconv.Itoa(r.MaxCalls), "VOICEDOCK_MAX_TRANSFERS_IN_FLIGHT="+strconv.Itoa(r.MaxTransfers))
	if err != nil {
		return r, err
	}
	defer m.close()
	var answered, refused, gone atomic.Int64
	t := m.target("voicedock over MCP at 2x its best rate")
	t.callerScenario = "uac_transfer_or_busy.xml"
	t.transfer = func(ctx context.Context, id string) error {
		answered.Add(1)
		give := time.Now().Add(overloadRetryFor)
		for {
			_, err := callTool(ctx, m.pool.get(), "transfer_call", map[string]any{"call_id": id, "destination": salesNumber})
			if err != nil && strings.Contains(err.Error(), "the caller hung up") {
				gone.Add(1)
			}
			if err == nil || !strings.Contains(err.Error(), string(core.CodeOverloaded)) || time.Now().After(give) {
				return err
			}
			refused.Add(1)
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Second): // the refusal's retry_after
			}
		}
	}
	log.Printf("overload: %d calls/s (2x %d) for %s, at most %d calls and %d transfers in flight", r.Rate, best, dur, r.MaxCalls, r.MaxTransfers)
	// The heap two thirds into the phase: what holds the RSS.
	heapTaken := make(chan struct{})
	go func() {
		defer close(heapTaken)
		select {
		case <-ctx.Done():
			return
		case <-time.After(dur * 2 / 3):
		}
		prof := filepath.Join(b.tmp, "overload-heap.pb.gz")
		if err := m.s.profile("heap", prof); err != nil {
			log.Printf("overload: heap profile: %v", err)
			return
		}
		b.pprofTop(bin, prof, filepath.Join(b.profDir, "overload-heap-top.txt"))
	}()
	st, err := b.transferStep(ctx, t, m.targetPort, r.Rate, dur)
	<-heapTaken
	r.Step = st
	r.Answered, r.RefusedTransfers, r.CallerGone = answered.Load(), refused.Load(), gone.Load()
	r.RefusedInvites = max(0, st.Successful-len(st.Transferred))
	log.Printf("overload: RSS %.0f MiB (budget %.0f), %d answered, %d INVITEs refused, %d transfers refused, %d failures",
		st.RSS, r.BudgetMiB, r.Answered, r.RefusedInvites, r.RefusedTransfers, r.failures())
	return r, err
}

// writeLoad writes the steady-state and overload sections.
func (r *results) writeLoad(b *strings.Builder) {
	s := r.Steady
	if s.Step.Calls > 0 {
		fmt.Fprintf(b, "## Webhooks at the best rate\n\n")
		fmt.Fprintf(b, "A fresh server over MCP at its best rate (%d transfers/s) for %s, ~9 deliveries per transfer to the bench's receiver "+
			"(`VOICEDOCK_WEBHOOK_CONCURRENCY=256`, the default). The outbox's pending deliveries are counted after %s and at the end; "+
			"the dispatcher keeps pace when the count does not grow. The caps are off, as on the ramp; new calls are still refused with 503 "+
			"near the process's open-file limit, which the callers (`bench/scenarios/uac_transfer_or_busy.xml`) take as a clean end, counted apart.\n\n", s.Rate, s.Dur, s.Warm)
		fmt.Fprintf(b, "| Rate (/s) | Ran | Calls | INVITEs refused (503) | sipp failed | Transfer errors | Pending after the warm-up | Pending at the end | Deliveries received | Deliveries/s | RSS (MiB) | Server CPU (%%) | Load generators' CPU (%%, the receiver included) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		rows := []steadyResult{s}
		if r.SteadyBelow != nil {
			rows = append(rows, *r.SteadyBelow)
		}
		for _, s := range rows {
			fmt.Fprintf(b, "| %d | %s (warm-up %s) | %d | %d | %d | %d | %d | %d | %d | %.0f | %.0f | %.0f | %.0f |\n", s.Rate, s.Dur, s.Warm, s.Step.Calls, s.RefusedInvites, s.Step.Failed, s.Step.TransferErrors,
				s.PendingStart, s.PendingEnd, s.Received, s.PerSec, s.Step.RSS, s.Step.CPU, s.Step.LoadCPU)
		}
		if r.SteadyBelow != nil {
			fmt.Fprintf(b, "\nThe best rate's deliveries fell behind, so the ramp's rate below it ran too, on another fresh server: "+
				"what the server sustains with its webhooks delivered as they happen, run for half as long to keep the suite under ten minutes.\n")
		}
		b.WriteString("\n")
	}
	o := r.Overload
	if o.Step.Calls > 0 {
		fmt.Fprintf(b, "## Overload\n\n")
		fmt.Fprintf(b, "A fresh server with its default capacity (`VOICEDOCK_MAX_CALLS=%d`, `VOICEDOCK_MAX_TRANSFERS_IN_FLIGHT=%d`) called at twice the best rate "+
			"over MCP (%d/s) for %s by `bench/scenarios/uac_transfer_or_busy.xml`, which takes a 503 with Retry-After as a clean refusal. "+
			"A transfer refused `overloaded` is retried after its `retry_after` for up to %s. Failures are calls that failed in sipp "+
			"(an answered call dropped, or never transferred) and transfers that ended in an error other than the refusal, "+
			"a transfer failed because its caller had hung up counting once with that caller. "+
			"The RSS budget is 300 MiB plus 30 KiB per call the server may hold.\n\n", o.MaxCalls, o.MaxTransfers, o.Rate, o.Dur, overloadRetryFor)
		fmt.Fprintf(b, "| Rate (/s) | Calls | Answered | INVITEs refused (503) | transfer_call refused (overloaded) | Transferred | Failures | Peak RSS (MiB) | Budget (MiB) | p50 / p99 transfer (ms) | First error |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
		fmt.Fprintf(b, "| %d | %d | %d | %d | %d | %d | %d | %.0f | %.0f | %.1f / %.1f | %s |\n\n", o.Rate, o.Step.Calls, o.Answered, o.RefusedInvites, o.RefusedTransfers,
			len(o.Step.Transferred), o.failures(), o.Step.RSS, o.BudgetMiB, ms(o.Step.P50), ms(o.Step.P99), strings.ReplaceAll(o.Step.FirstError, "|", "/"))
	}
}

// writeLoadTargets writes the two targets' rows.
func (r *results) writeLoadTargets(b *strings.Builder) {
	if s := r.Steady; s.Step.Calls > 0 {
		fmt.Fprintf(b, "| Webhooks keep pace at the best rate (outbox pending does not grow) | %d/s for %s: pending %d → %d, %.0f deliveries/s | %s |\n",
			s.Rate, s.Dur, s.PendingStart, s.PendingEnd, s.PerSec, met(s.keptPace()))
		if below := r.SteadyBelow; below != nil {
			fmt.Fprintf(b, "| Webhooks at the ramp's rate below the best (what is sustained with them) | %d/s for %s: pending %d → %d, %.0f deliveries/s | %s |\n",
				below.Rate, below.Dur, below.PendingStart, below.PendingEnd, below.PerSec, map[bool]string{true: "kept pace", false: "fell behind"}[below.keptPace()])
		}
	}
	if o := r.Overload; o.Step.Calls > 0 {
		fmt.Fprintf(b, "| Overload refused, not absorbed (2x best rate: RSS < budget, zero failures) | %d/s: RSS %.0f / %.0f MiB, %d INVITEs and %d transfers refused, %d failures | %s |\n",
			o.Rate, o.Step.RSS, o.BudgetMiB, o.RefusedInvites, o.RefusedTransfers, o.failures(), met(o.met()))
	}
}
