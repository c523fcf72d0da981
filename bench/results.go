package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

type referResult struct {
	Rate          int
	N             int
	P50, P99, Max time.Duration
	Steps         []stepResult
}

// results is everything one run of the suite measured.
type results struct {
	Machine   machine
	Quick     bool
	Runs      int
	Dur       time.Duration
	Files     uint64
	Took      time.Duration
	MCP       rampResult
	Core      rampResult
	Reference rampResult
	Events    struct {
		Transfers, MissingCompleted, MissingReports int
		Pending, Dead                               int
	}
	SampleCallID string
	Held         heldResult
	ToRefer      []referResult
	HTTP         map[string][2]rpsResult // tool -> MCP, plain
	HTTPRaw      map[string]rpsResult    // tool -> MCP with the plain reference's client
	Stdio        map[string]rpsResult
	Steady       steadyResult
	// SteadyBelow is the steady state at the ramp's rate below the best,
	// run when the best one's webhooks fell behind.
	SteadyBelow *steadyResult
	Overload    overloadResult
}

// summary is the median over the runs at the best rate.
type summary struct {
	Rate               int
	ZeroFailRuns, Runs int
	P50, P99, CPU, RSS float64
	// LoadCPU as in stepResult; ServerPerCall and LoadPerCall the
	// server's and the load generators' CPU per call, in ms.
	LoadCPU                    float64
	ServerPerCall, LoadPerCall float64
}

func (r rampResult) summary() summary {
	s := summary{Rate: r.Best, Runs: len(r.Runs)}
	var p50, p99, cpu, rss, load, serverPer, loadPer []float64
	for _, run := range r.Runs {
		load = append(load, run.LoadCPU)
		if run.Calls > 0 {
			serverPer = append(serverPer, ms(run.CPUTime)/float64(run.Calls))
			loadPer = append(loadPer, ms(run.LoadCPUTime)/float64(run.Calls))
		}
		if run.ok() {
			s.ZeroFailRuns++
		}
		p50 = append(p50, ms(run.P50))
		p99 = append(p99, ms(run.P99))
		cpu = append(cpu, run.CPU)
		rss = append(rss, run.RSS)
	}
	s.P50, s.P99, s.CPU, s.RSS = median(p50), median(p99), median(cpu), median(rss)
	s.LoadCPU = median(load)
	s.ServerPerCall, s.LoadPerCall = median(serverPer), median(loadPer)
	return s
}

// writeMachineShare says, at each target's best rate, what the server and
// the load generators beside it spent per call: on a machine whose cores
// the generators share, the rate a target can reach is bounded by the
// cores' time over the sum of the two.
func (r *results) writeMachineShare(b *strings.Builder) {
	cores := float64(r.Machine.Cores)
	fmt.Fprintf(b, "\nCPU per transferred call at the best rate (medians of its runs, from each process's own CPU accounting): the server's part, and the load generators' beside it "+
		"(the sipp callers and target, and for the server over MCP and the reference the bench's own process: the driver's MCP clients, its reading of the server's log, and the webhook receiver). "+
		"At that cost per call, the %.0f cores shared by both hold at most their time over the two together; the cost per call falls as the rate rises (writes and collections shared by more calls), so the bound is read at the best rate only.\n\n", cores)
	fmt.Fprintf(b, "| Server | Best rate (/s) | Server CPU (%%) | Load generators' CPU (%%) | Server CPU per call (ms) | Load generators' CPU per call (ms) | The cores' bound at this CPU per call (/s) |\n|---|---|---|---|---|---|---|\n")
	for _, rr := range []rampResult{r.MCP, r.Core, r.Reference} {
		s := rr.summary()
		bound := "n/a"
		if per := s.ServerPerCall + s.LoadPerCall; per > 0 {
			bound = fmt.Sprintf("%.0f", cores*1000/per)
		}
		fmt.Fprintf(b, "| %s | %d | %.0f | %.0f | %.2f | %.2f | %s |\n", rr.Name, s.Rate, s.CPU, s.LoadCPU, s.ServerPerCall, s.LoadPerCall, bound)
	}
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func (r *results) write(path string) error {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "# Benchmark results\n\n")
	fmt.Fprintf(&b, "Written by `go run ./bench` (see bench/README.md). ")
	if r.Quick {
		fmt.Fprintf(&b, "**A -quick smoke run: short, single runs; not numbers to quote.** ")
	}
	fmt.Fprintf(&b, "Everything on loopback; medians of %d runs of %s per rate.\n\n", r.Runs, r.Dur)
	fmt.Fprintf(&b, "| Machine | |\n|---|---|\n")
	fmt.Fprintf(&b, "| CPU | %s |\n| Cores | %d |\n| Memory | %.1f GiB |\n| Load average at the end | %s |\n| Commit | %s |\n| Go | %s |\n| sipp | %s |\n| Open-file limit | %d |\n| Date | %s |\n| Suite took | %s |\n\n",
		m.CPU, m.Cores, m.MemGiB, loadNow(), m.Commit, m.Go, m.Sipp, r.Files, m.Date, r.Took.Round(time.Second))

	r.writeTargets(&b)

	fmt.Fprintf(&b, "## Transfers per second\n\n")
	fmt.Fprintf(&b, "sipp callers (`testdata/sipp/uac_transfer_ok.xml`, which answers a retransmitted REFER again) call at a fixed rate (`-r`) for %s; each answered call is transferred "+
		"to a sipp target (`uas_target_answer.xml`, answering after ringing 50 ms), which the caller really calls; the transferring side BYEs. "+
		"The rate is raised until a step fails; the best rate is the highest with zero failures (every call successful in sipp, "+
		"every transfer completed) that kept up (the last call ended within 3 s of the last INVITE: no growing backlog), then run again to %d runs. The core's ramp starts at the best rate over MCP (the steps below it only lengthened the bench). The reference's ramp starts at the server's two top rates and goes on past them by half a step at a time until sipp fails (a run still going 2 s past the 3 s allowed is stopped), so that the ratio is to what sipp really does on this machine. Transfer time: transfer requested to final NOTIFY handled "+
		"(the tool's result, `Calls.Transfer` returning, or sipp's REFER-to-final-NOTIFY response time for the reference). "+
		"CPU is in percent of one core, of the process doing the server's part; RSS its peak.\n\n", r.Dur, r.Runs)
	ref := r.Reference.summary()
	fmt.Fprintf(&b, "| Server | Best rate (/s) | Ratio to reference | Runs passed (zero failures, kept up) | p50 transfer (ms) | p99 transfer (ms) | CPU (%%) | RSS (MiB) |\n|---|---|---|---|---|---|---|---|\n")
	for _, rr := range []rampResult{r.MCP, r.Core, r.Reference} {
		s := rr.summary()
		best := strconv.Itoa(s.Rate)
		if len(rr.Steps) > 0 && rr.Steps[len(rr.Steps)-1].ok() && s.Rate == rr.Top {
			best = "≥ " + best + " (top of the ramp)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d/%d | %.1f | %.1f | %.0f | %.0f |\n", rr.Name, best, ratio(float64(s.Rate), float64(ref.Rate)),
			s.ZeroFailRuns, s.Runs, s.P50, s.P99, s.CPU, s.RSS)
	}
	r.writeMachineShare(&b)
	fmt.Fprintf(&b, "\nEvery step:\n\n| Server | Rate (/s) | Calls | Took (s) | sipp successful | sipp failed | Transfer errors | p50 (ms) | p99 (ms) | CPU (%%) | RSS (MiB) | Load generators' CPU (%%) | First error |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, rr := range []rampResult{r.MCP, r.Core, r.Reference} {
		for _, st := range append(append([]stepResult{}, rr.Steps...), rr.Runs[min(1, len(rr.Runs)):]...) {
			fmt.Fprintf(&b, "| %s | %d | %d | %.1f | %d | %d | %d | %.1f | %.1f | %.0f | %.0f | %.0f | %s |\n", rr.Name, st.Rate, st.Calls, st.Wall.Seconds(), st.Successful, st.Failed,
				st.TransferErrors, ms(st.P50), ms(st.P99), st.CPU, st.RSS, st.LoadCPU, strings.ReplaceAll(st.FirstError, "|", "/"))
		}
	}
	fmt.Fprintf(&b, "\nEvents under load (server over MCP, every step): %d transfers completed; webhook deliveries not received "+
		"(after waiting until none arrived for 15 s, at most 1 min): %d `transfer-update` (completed), %d `end-of-call-report`; "+
		"the server's outbox then held %d pending and %d dead deliveries (pending ones are not lost: they are stored and sent on).\n\n",
		r.Events.Transfers, r.Events.MissingCompleted, r.Events.MissingReports, r.Events.Pending, r.Events.Dead)

	r.writeLoad(&b)

	h := r.Held
	fmt.Fprintf(&b, "## Calls held at once\n\n")
	fmt.Fprintf(&b, "sipp callers set up %d calls (500/s) that wait for a REFER; once all are answered the server's RSS and goroutines "+
		"(from `/debug/goroutines` on `VOICEDOCK_DEBUG_ADDR`) are read, then every call is transferred over MCP, 64 in flight.\n\n", h.Calls)
	per := func(a, b float64) float64 {
		if h.Held == 0 {
			return 0
		}
		return (a - b) / float64(h.Held)
	}
	fmt.Fprintf(&b, "| Measure | Value |\n|---|---|\n")
	fmt.Fprintf(&b, "| Calls held | %d of %d |\n| Set-up rate reached | %.0f/s |\n| RSS idle / held | %.0f / %.0f MiB |\n| RSS per held call | %.1f KiB |\n"+
		"| Goroutines idle / held | %d / %d |\n| Goroutines per held call | %.2f |\n| Transfer rate while held | %.0f/s |\n| Transfer p50 / p99 | %.1f / %.1f ms |\n"+
		"| Transfer errors | %d %s |\n| Callers failed (sipp) | %d |\n| Webhooks not received (completed / end-of-call) | %d / %d |\n| Outbox after the wait (pending / dead) | %d / %d |\n\n",
		h.Held, h.Calls, h.SetupRate, h.RSS0, h.RSSHeld, per(h.RSSHeld, h.RSS0)*1024, h.G0, h.GHeld, per(float64(h.GHeld), float64(h.G0)),
		h.TransferRate, ms(h.P50), ms(h.P99), h.TransferErrors, strings.ReplaceAll(h.FirstError, "|", "/"), h.CallerFailed, h.MissingCompleted, h.MissingReports, h.Pending, h.Dead)

	fmt.Fprintf(&b, "## MCP throughput\n\n")
	fmt.Fprintf(&b, "32 concurrent workers for %s per run. HTTP: 32 mcp-go streamable HTTP sessions against the MCP handler, and the same "+
		"`Calls.GetCall` / `Calls.ListCalls` behind a plain net/http JSON handler, both served by the bench process (the server's "+
		"packages wired in process) from the same SQLite store. get_call's second MCP row is the same MCP handler driven by the reference's client "+
		"(net/http, the answer decoded into a map, a sessionless 2026-07-28 `tools/call` as mcp-go's client sends): handler against handler. stdio: the server binary, one mcp-go stdio client, 32 requests in flight.\n\n", b2s(r))
	fmt.Fprintf(&b, "| Tool | Transport | req/s | p50 (ms) | p99 (ms) | Errors | Ratio to plain net/http |\n|---|---|---|---|---|---|---|\n")
	for _, tool := range []string{"get_call", "list_calls"} {
		pair := r.HTTP[tool]
		fmt.Fprintf(&b, "| %s | MCP streamable HTTP | %.0f | %.2f | %.2f | %d | %s |\n", tool, pair[0].RPS, ms(pair[0].P50), ms(pair[0].P99), pair[0].Errors, ratio(pair[0].RPS, pair[1].RPS))
		if raw, ok := r.HTTPRaw[tool]; ok {
			fmt.Fprintf(&b, "| %s | MCP streamable HTTP, net/http client as the reference's | %.0f | %.2f | %.2f | %d | %s |\n", tool, raw.RPS, ms(raw.P50), ms(raw.P99), raw.Errors, ratio(raw.RPS, pair[1].RPS))
		}
		fmt.Fprintf(&b, "| %s | plain net/http (reference) | %.0f | %.2f | %.2f | %d | 1.00 |\n", tool, pair[1].RPS, ms(pair[1].P50), ms(pair[1].P99), pair[1].Errors)
		if s, ok := r.Stdio[tool]; ok {
			fmt.Fprintf(&b, "| %s | MCP stdio | %.0f | %.2f | %.2f | %d | %s |\n", tool, s.RPS, ms(s.P50), ms(s.P99), s.Errors, ratio(s.RPS, pair[1].RPS))
		}
	}
	fmt.Fprintf(&b, "\n## transfer_call arrival to REFER\n\n")
	fmt.Fprintf(&b, "In process: from the HTTP request's arrival at the MCP handler (before its body is read) to the core handing the REFER "+
		"to the SIP user agent (`Signaling.Refer`), which builds the message and writes it to the socket next. "+
		"sipp callers at a fixed rate, each call transferred over MCP; the CPU profile at 200/s is taken in a further run whose times are not counted.\n\n")
	fmt.Fprintf(&b, "| Rate (/s) | Transfers | p50 (ms) | p99 (ms) | max (ms) |\n|---|---|---|---|---|\n")
	for _, t := range r.ToRefer {
		fmt.Fprintf(&b, "| %d | %d | %.3f | %.3f | %.3f |\n", t.Rate, t.N, ms(t.P50), ms(t.P99), ms(t.Max))
	}
	fmt.Fprintf(&b, "\nProfiles of this run: bench/profiles/ (`go tool pprof -top` of the server's CPU at the best rate, its heap with the calls held, its goroutines).\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func b2s(r *results) string {
	if r.Quick {
		return "1s"
	}
	return "3s"
}

func loadNow() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(data))[:3], " ")
}

// writeTargets compares the run with the performance targets the server
// is held to (transfers/s, memory and goroutines per held call, MCP
// overhead, REFER latency, no lost event).
func (r *results) writeTargets(b *strings.Builder) {
	h := r.Held
	perCall := func(a, z float64) float64 {
		if h.Held == 0 {
			return 0
		}
		return (a - z) / float64(h.Held)
	}
	gPer := perCall(float64(h.GHeld), float64(h.G0))
	var refP99 time.Duration
	referMeasured := len(r.ToRefer) > 0 // every rate must have samples: none means nothing was timed
	for _, t := range r.ToRefer {
		referMeasured = referMeasured && t.N > 0
	}
	for _, t := range r.ToRefer {
		refP99 = max(refP99, t.P99)
	}
	getRatio := 0.0
	if pair, ok := r.HTTP["get_call"]; ok && pair[1].RPS > 0 {
		getRatio = pair[0].RPS / pair[1].RPS
	}
	mcp, core := r.MCP.summary(), r.Core.summary()
	fmt.Fprintf(b, "## Targets\n\n| Target | Measured | Met |\n|---|---|---|\n")
	fmt.Fprintf(b, "| ≥ 1,500 transfers/s with zero failures (over MCP) | %d/s (core alone: %d/s) | %s |\n", mcp.Rate, core.Rate, met(mcp.Rate >= 1500))
	fmt.Fprintf(b, "| 10,000 held calls in < 500 MiB RSS | %d held, %.0f MiB | %s |\n", h.Held, h.RSSHeld, met(h.Held >= 10000 && h.RSSHeld < 500))
	fmt.Fprintf(b, "| ≤ 2 goroutines per idle call | %.2f | %s |\n", gPer, met(h.Held > 0 && gPer <= 2))
	rawRatio := 0.0
	if pair, ok := r.HTTP["get_call"]; ok && pair[1].RPS > 0 {
		rawRatio = r.HTTPRaw["get_call"].RPS / pair[1].RPS
	}
	fmt.Fprintf(b, "| MCP get_call over HTTP ≥ half the plain net/http rate | %.2f of it with mcp-go's client; %.2f with the reference's client (handler against handler) | %s |\n",
		getRatio, rawRatio, metBoth(getRatio >= 0.5, rawRatio >= 0.5))
	fmt.Fprintf(b, "| p99 transfer_call arrival to REFER < 2 ms | %.2f ms (worst p99 of the rates below) | %s |\n", ms(refP99), met(referMeasured && refP99 < 2*time.Millisecond))
	missing := r.Events.MissingCompleted + r.Events.MissingReports
	hMissing := h.MissingCompleted + h.MissingReports
	fmt.Fprintf(b, "| No event lost under load | ramp: %d transfers, %d deliveries not received, outbox %d pending / %d dead; held: %d transfers, %d not received, outbox %d pending / %d dead | %s |\n",
		r.Events.Transfers, missing, r.Events.Pending, r.Events.Dead, h.Held-h.TransferErrors, hMissing, h.Pending, h.Dead,
		met(r.Events.Transfers > 0 && r.Events.Dead == 0 && h.Dead == 0 && missing <= r.Events.Pending && hMissing <= h.Pending))
	r.writeLoadTargets(b)
	fmt.Fprintf(b, "\n")
	fmt.Fprintf(b, "What bounds the targets missed, with the profiles that show it: bench/NOTES.md.\n\n")
}

// met is a target's verdict.
func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// metBoth is met for a target measured two ways: with the client agents use
// and with the reference's own client.
func metBoth(withClient, handlerOnly bool) string {
	switch {
	case withClient:
		return "yes"
	case handlerOnly:
		return "handler: yes; with mcp-go's client: **no**"
	}
	return "**no**"
}
