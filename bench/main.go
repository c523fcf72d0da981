// Command bench measures voicedock under load on loopback: transfers per
// second (over MCP, through the core alone, and a sipp reference playing
// the server's part), calls held at once, MCP throughput against a plain
// net/http handler, and the time from a transfer_call's arrival to its
// REFER. It writes bench/RESULTS.md. Run it from the module root:
//
//	go run ./bench          # the full suite, under 10 minutes on 2 cores
//	go run ./bench -quick   # a smoke run of about a minute
//
// It needs sipp (Debian's sip-tester) on PATH.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"time"

	"github.com/mark3labs/mcp-go/client"
	mcptransport "github.com/mark3labs/mcp-go/client/transport"
)

// bench is one run of the suite.
type bench struct {
	root    string // the module root
	tmp     string // scratch: data dirs, sipp files, binaries
	profDir string // bench/profiles
	ports   portPicker
	quick   bool
	runs    int
	dur     time.Duration
	rates   []int
	// clusterForward, with -cluster, asks each transfer of a node that
	// does not hold the call.
	clusterForward bool
	// cpuProfile, when set, profiles this process during the MCP-over-HTTP
	// throughput runs (the MCP layer and the plain handler are in process).
	cpuProfile string
	// profiling is the file of the in-process CPU profile running.
	profiling *os.File
}

func main() {
	quick := flag.Bool("quick", false, "a smoke run of about a minute (numbers not comparable)")
	out := flag.String("out", "", "where to write the results (default bench/RESULTS.md; with -quick, a file in the temp dir)")
	held := flag.Int("held", 10000, "calls to hold at once")
	keep := flag.Bool("keep", false, "keep the scratch directory (sipp logs, data dirs)")
	runs := flag.Int("runs", 0, "runs per measurement (default 3; 1 with -quick)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the in-process MCP throughput runs to this file")
	cluster := flag.Bool("cluster", false, "only the cluster comparison: 1, 2 and 3 nodes on PostgreSQL behind Kamailio against 1 on SQLite (bench/CLUSTER.md)")
	clusterForward := flag.Bool("cluster-forward", false, "with -cluster: ask each transfer of a node that does not hold the call")
	only := flag.String("only", "", "run one phase and log its figures, without writing results: mcp (the MCP transfer ramp), load (webhooks and overload at -best), embedded (core ramp, arrival to REFER, MCP throughput), reference (the sipp reference's ramp)")
	best := flag.Int("best", 250, "with -only load: the best MCP rate the phases start from")
	rates := flag.String("rates", "", "comma-separated rates for the ramps, instead of the default climb")
	webhooks := flag.Bool("webhooks", true, "with -only mcp: configure the bench's webhook receiver (false: the ramp without webhook deliveries, to tell their cost from MCP's)")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if *cluster {
		if *out == "" {
			*out = "bench/CLUSTER.md"
			if *quick {
				*out = filepath.Join(os.TempDir(), "voicedock-bench-cluster-quick.md")
			}
		}
		if err := runCluster(*quick, *out, *keep, *clusterForward); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *out == "" {
		*out = "bench/RESULTS.md"
		if *quick {
			*out = filepath.Join(os.TempDir(), "voicedock-bench-quick.md")
		}
	}
	if *only != "" {
		if err := runOnly(*only, *best, *rates, *quick, *keep, *runs, *cpuProfile, *webhooks); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := run(*quick, *out, *held, *keep, *cpuProfile, *runs); err != nil {
		log.Fatal(err)
	}
}

func run(quick bool, out string, held int, keep bool, cpuProfile string, runs int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := exec.LookPath("sipp"); err != nil {
		return fmt.Errorf("sipp is needed on PATH (apt-get install sip-tester): %w", err)
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return fmt.Errorf("run from the module root: go run ./bench")
	}
	b := &bench{root: root, profDir: filepath.Join(root, "bench", "profiles"), quick: quick, runs: 3, dur: 10 * time.Second,
		rates: []int{100, 250, 500, 750, 1000, 1500, 2000, 3000}, cpuProfile: cpuProfile}
	if quick {
		b.runs, b.dur, b.rates = 1, 3*time.Second, []int{50, 150}
		held = min(held, 300)
		b.profDir = filepath.Join(os.TempDir(), "voicedock-bench-profiles")
	}
	if runs > 0 {
		b.runs = runs
	}
	if err := os.MkdirAll(b.profDir, 0o755); err != nil {
		return err
	}
	if b.tmp, err = os.MkdirTemp("", "voicedock-bench"); err != nil {
		return err
	}
	if keep {
		log.Printf("scratch directory %s", b.tmp)
	} else {
		defer os.RemoveAll(b.tmp)
	}
	files, err := raiseFileLimit()
	if err != nil {
		return fmt.Errorf("raise the open-file limit: %w", err)
	}
	// The server refuses new calls once three quarters of its open-file
	// limit is taken (a held call takes one), so the calls held stay
	// under that, with room for its other files.
	if most := int(files)*3/4 - 1000; held > most {
		log.Printf("open-file limit %d: the server refuses calls past three quarters of it; holding %d calls, not %d", files, most, held)
		held = most
	}
	res := results{Machine: describeMachine(), Quick: quick, Runs: b.runs, Dur: b.dur, Files: files}
	started := time.Now()
	log.Printf("building voicedock")
	bin, err := buildServer(root, b.tmp)
	if err != nil {
		return err
	}
	hooks, err := startWebhooks()
	if err != nil {
		return err
	}

	// 1. The server binary over MCP: transfers, held calls.
	if err := b.serverRuns(ctx, bin, hooks, held, &res); err != nil {
		return err
	}
	// Webhooks at the best rate, and overload at twice it.
	if err := b.loadPhases(ctx, bin, hooks, &res); err != nil {
		return err
	}
	// 2. The core in process: transfers without MCP, arrival to REFER,
	// MCP throughput against plain net/http.
	if err := b.embeddedRuns(ctx, &res); err != nil {
		return err
	}
	// 3. The reference: sipp playing the server's part, past the top of
	// the server's ramp until it fails, so that the ratio is to what sipp
	// really does here.
	extra := 6
	if b.quick {
		extra = 1
	}
	ref, err := b.ramp(ctx, b.referenceTarget(), b.ports.free(1), referenceRates(b.rates, extra), b.dur, b.runs)
	if err != nil {
		return err
	}
	res.Reference = ref
	res.Took = time.Since(started)
	if err := res.write(out); err != nil {
		return err
	}
	log.Printf("wrote %s in %s", out, res.Took.Round(time.Second))
	return nil
}

func (b *bench) serverRuns(ctx context.Context, bin string, hooks *webhookCounter, held int, res *results) error {
	dataDir := filepath.Join(b.tmp, "server")
	hooksURL := ""
	if hooks != nil {
		hooksURL = hooks.url
	}
	s, err := startServer(ctx, bin, dataDir, serverEnv(dataDir, hooksURL))
	if err != nil {
		return err
	}
	defer s.stop()
	targetPort := b.ports.free(1)
	admin, err := dialMCP(ctx, s.mcpURL)
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := configure(ctx, admin, targetPort); err != nil {
		return err
	}
	pool, err := newClientPool(ctx, s.mcpURL, 16)
	if err != nil {
		return err
	}
	defer pool.close()
	target := transferTarget{
		name:     "voicedock over MCP",
		sipAddr:  func() string { return s.sipAddr },
		answered: s.answered,
		transfer: func(ctx context.Context, id string) error {
			_, err := callTool(ctx, pool.get(), "transfer_call", map[string]any{"call_id": id, "destination": salesNumber})
			return err
		},
		pid:    s.pid,
		drain:  s.drainAnswered,
		settle: (&settler{live: mcpLive(admin)}).settle,
		profile: func(dur time.Duration) error {
			return s.profile(fmt.Sprintf("profile?seconds=%d", int(dur.Seconds())), filepath.Join(b.tmp, "transfer-cpu.pb.gz"))
		},
	}
	ramp, err := b.ramp(ctx, target, targetPort, b.rates, b.dur, b.runs)
	if err != nil {
		return err
	}
	res.MCP = ramp
	var ids []string
	for _, st := range ramp.Steps {
		ids = append(ids, st.Transferred...)
	}
	for _, st := range ramp.Runs[min(1, len(ramp.Runs)):] {
		ids = append(ids, st.Transferred...)
	}
	res.Events.Transfers = len(ids)
	if hooks == nil {
		return nil // -only mcp -webhooks=false: the ramp is all
	}
	res.Events.MissingCompleted, res.Events.MissingReports = hooks.waitFor(ids, 15*time.Second, time.Minute)
	res.Events.Pending, res.Events.Dead = outbox(ctx, admin)
	log.Printf("webhooks: %d transfers, %d without transfer-update completed, %d without end-of-call-report; outbox: %d pending, %d dead",
		len(ids), res.Events.MissingCompleted, res.Events.MissingReports, res.Events.Pending, res.Events.Dead)
	if len(ids) > 0 {
		res.SampleCallID = ids[0]
	}

	b.pprofTop(bin, filepath.Join(b.tmp, "transfer-cpu.pb.gz"), filepath.Join(b.profDir, "transfer-cpu-top.txt"))

	pool.close()
	admin.Close()
	s.stop()

	if held == 0 {
		return nil
	}
	// Held calls on a fresh server, so that the baseline has nothing
	// left of the transfer runs.
	h, err := b.heldOnFreshServer(ctx, bin, hooks, held)
	if err != nil {
		return err
	}
	res.Held = h
	b.pprofTop(bin, filepath.Join(b.tmp, "held-heap.pb.gz"), filepath.Join(b.profDir, "held-heap-top.txt"))

	// stdio: the same binary and data, one client, 32 requests in flight.
	if res.SampleCallID != "" {
		stdio, err := b.stdioThroughput(ctx, bin, dataDir, res.SampleCallID)
		if err != nil {
			return err
		}
		res.Stdio = stdio
	}
	return nil
}

func (b *bench) heldOnFreshServer(ctx context.Context, bin string, hooks *webhookCounter, held int) (heldResult, error) {
	dataDir := filepath.Join(b.tmp, "held")
	s, err := startServer(ctx, bin, dataDir, serverEnv(dataDir, hooks.url))
	if err != nil {
		return heldResult{}, err
	}
	defer s.stop()
	targetPort := b.ports.free(1)
	admin, err := dialMCP(ctx, s.mcpURL)
	if err != nil {
		return heldResult{}, err
	}
	defer admin.Close()
	if err := configure(ctx, admin, targetPort); err != nil {
		return heldResult{}, err
	}
	pool, err := newClientPool(ctx, s.mcpURL, 16)
	if err != nil {
		return heldResult{}, err
	}
	defer pool.close()
	return b.heldCalls(ctx, s, pool, hooks, targetPort, held, 500, 64)
}

func (b *bench) stdioThroughput(ctx context.Context, bin, dataDir, callID string) (map[string]rpsResult, error) {
	env := serverEnv(dataDir, "")
	env = append(env, "VOICEDOCK_LOG_LEVEL=warn")
	tr := mcptransport.NewStdio(bin, env, "serve", "--transport", "stdio")
	c := client.NewClient(tr)
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	defer c.Close()
	if err := initMCP(ctx, c); err != nil {
		return nil, err
	}
	out := map[string]rpsResult{}
	for _, tool := range []string{"get_call", "list_calls"} {
		var runs []rpsResult
		for range b.runs {
			runs = append(runs, hammer(ctx, 32, b.throughputDur(), mcpOp([]*client.Client{c}, tool, callID)))
		}
		out[tool] = medianRPS(runs)
		log.Printf("stdio %s: %.0f req/s p50 %.2f ms p99 %.2f ms", tool, out[tool].RPS, ms(out[tool].P50), ms(out[tool].P99))
	}
	return out, nil
}

func (b *bench) throughputDur() time.Duration {
	if b.quick {
		return time.Second
	}
	return 3 * time.Second
}

func (b *bench) embeddedRuns(ctx context.Context, res *results) error {
	e, err := startEmbedded(ctx, filepath.Join(b.tmp, "embedded"))
	if err != nil {
		return err
	}
	defer e.close()
	targetPort := b.ports.free(1)
	admin, err := dialMCP(ctx, e.mcpURL)
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := configure(ctx, admin, targetPort); err != nil {
		return err
	}
	self := os.Getpid()
	coreTarget := transferTarget{
		name: "core in process (no MCP)", sipAddr: e.sipAddr, answered: e.answered, transfer: e.transfer,
		pid: func() int { return self }, drain: e.drain,
		settle: (&settler{live: func(context.Context) int { return e.calls.LiveCount() }}).settle,
	}
	rates := ratesFrom(b.rates, res.MCP.Best)
	ramp, err := b.ramp(ctx, coreTarget, targetPort, rates, b.dur, b.runs)
	if err == nil && ramp.Best == 0 && len(rates) < len(b.rates) {
		log.Printf("%s: failed at %d/s, the best over MCP: the whole ramp", coreTarget.name, rates[0])
		ramp, err = b.ramp(ctx, coreTarget, targetPort, b.rates, b.dur, b.runs)
	}
	if err != nil {
		return err
	}
	res.Core = ramp
	var callID string
	for _, st := range ramp.Steps {
		if len(st.Transferred) > 0 {
			callID = st.Transferred[0]
		}
	}

	// Arrival of transfer_call to the REFER, over MCP in process.
	pool, err := newClientPool(ctx, e.mcpURL, 16)
	if err != nil {
		return err
	}
	defer pool.close()
	mcpTarget := coreTarget
	mcpTarget.name = "MCP in process"
	mcpTarget.transfer = func(ctx context.Context, id string) error {
		_, err := callTool(ctx, pool.get(), "transfer_call", map[string]any{"call_id": id, "destination": salesNumber})
		return err
	}
	for _, rate := range []int{50, 200} {
		var all []time.Duration
		var steps []stepResult
		for run := range b.runs {
			st, err := b.transferStep(ctx, mcpTarget, targetPort, rate, b.dur/2)
			if err != nil {
				return err
			}
			steps = append(steps, st)
			times := e.referTimes()
			log.Printf("arrival to REFER at %d/s, run %d: p99 %.3f ms", rate, run+1, ms(percentile(sortedCopy(times), 99)))
			all = append(all, times...)
		}
		// The CPU profile is taken in a run of its own, whose times are
		// not counted: the profiler's signals and its writing lengthen
		// the tail it would be measuring.
		if rate == 200 && b.cpuProfile == "" && b.startCPUProfile("refer-cpu.pb.gz") {
			_, err := b.transferStep(ctx, mcpTarget, targetPort, rate, b.dur/2)
			b.stopCPUProfile("refer-cpu.pb.gz", "refer-cpu-cum.txt")
			if err != nil {
				return err
			}
			e.referTimes()
		}
		s := sortedCopy(all)
		res.ToRefer = append(res.ToRefer, referResult{Rate: rate, N: len(s), P50: percentile(s, 50), P99: percentile(s, 99), Max: percentile(s, 100), Steps: steps})
		log.Printf("arrival to REFER at %d/s: n=%d p50 %.3f ms p99 %.3f ms", rate, len(s), ms(percentile(s, 50)), ms(percentile(s, 99)))
	}

	// MCP over HTTP against plain net/http, same process, same store.
	if callID == "" {
		return nil
	}
	clients := pool.clients
	for len(clients) < 32 {
		c, err := dialMCP(ctx, e.mcpURL)
		if err != nil {
			return err
		}
		defer c.Close()
		clients = append(clients, c)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	res.HTTP = map[string][2]rpsResult{}
	res.HTTPRaw = map[string]rpsResult{}
	if b.cpuProfile != "" {
		f, err := os.Create(b.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	} else if b.startCPUProfile("mcp-http-cpu.pb.gz") {
		// Server and both clients in this process: where the MCP side's
		// CPU goes, against the plain handler's.
		defer b.stopCPUProfile("mcp-http-cpu.pb.gz", "mcp-http-inprocess-cum.txt")
	}
	for _, tool := range []string{"get_call", "list_calls"} {
		var mcpRuns, rawRuns, plainRuns []rpsResult
		for range b.runs {
			mcpRuns = append(mcpRuns, hammer(ctx, 32, b.throughputDur(), mcpOp(clients, tool, callID)))
			if tool == "get_call" { // the target's tool; list_calls would add 9 s to the suite
				rawRuns = append(rawRuns, hammer(ctx, 32, b.throughputDur(), rawMCPOp(hc, e.mcpURL, tool, callID)))
			}
			plainRuns = append(plainRuns, hammer(ctx, 32, b.throughputDur(), plainOp(hc, e.plainURL, tool, callID)))
		}
		m, raw, p := medianRPS(mcpRuns), medianRPS(rawRuns), medianRPS(plainRuns)
		res.HTTP[tool] = [2]rpsResult{m, p}
		log.Printf("HTTP %s: MCP %.0f req/s (p99 %.2f ms), plain %.0f req/s (p99 %.2f ms)", tool, m.RPS, ms(m.P99), p.RPS, ms(p.P99))
		if len(rawRuns) > 0 {
			res.HTTPRaw[tool] = raw
			log.Printf("HTTP %s: MCP with net/http's client %.0f req/s (p99 %.2f ms)", tool, raw.RPS, ms(raw.P99))
		}
	}
	return nil
}

// referenceTarget is sipp playing the server's part (answer, REFER,
// NOTIFYs, BYE), started afresh for each step.
func (b *bench) referenceTarget() transferTarget {
	var ref *sippProc
	var port int
	var targetPort int
	return transferTarget{
		name:    "sipp reference (UAS plays the server)",
		sipAddr: func() string { return "127.0.0.1:" + strconv.Itoa(port) },
		pid:     func() int { return ref.cmd.Process.Pid },
		before: func(ctx context.Context, step string) error {
			port = b.ports.free(1)
			var err error
			ref, err = startSipp(ctx, b.tmp, step+"-ref", "-sf", filepath.Join(b.root, "bench", "scenarios", "uas_refer_reference.xml"),
				"-i", "127.0.0.1", "-p", strconv.Itoa(port), "-mp", strconv.Itoa(b.ports.free(4)),
				"-set", "target", "sip:"+salesNumber+"@127.0.0.1:"+strconv.Itoa(targetPort),
				"-l", "100000", "-trace_rtt", "-rtt_freq", "1")
			return err
		},
		after: func() ([]time.Duration, int) {
			ref.stop()
			return ref.rtds(), ref.stats().Failed
		},
		setTargetPort: func(p int) { targetPort = p },
	}
}

// pprofTop writes `go tool pprof -top` of a profile, with any extra
// options (-cum) before the binary.
func (b *bench) pprofTop(bin, profile, out string, extra ...string) {
	if _, err := os.Stat(profile); err != nil {
		return
	}
	args := append([]string{"tool", "pprof", "-top", "-nodecount=40"}, extra...)
	cmd := exec.Command("go", append(args, bin, profile)...)
	data, err := cmd.Output()
	if err != nil {
		log.Printf("pprof %s: %v", profile, err)
		return
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		log.Printf("write %s: %v", out, err)
	}
}

// mcpLive counts the server's live calls over MCP (-1 when it cannot).
func mcpLive(c *client.Client) func(ctx context.Context) int {
	return func(ctx context.Context) int {
		n := 0
		for _, status := range []string{"ringing", "in-progress"} {
			out, err := callTool(ctx, c, "list_calls", map[string]any{"status": status, "limit": 1})
			if err != nil {
				return -1
			}
			p, _ := out["pagination"].(map[string]any)
			total, _ := p["total"].(float64)
			n += int(total)
		}
		return n
	}
}

// settler waits between steps until a server holds no call (settle).
type settler struct {
	live func(ctx context.Context) int
	// left is how many calls the last settle that gave up left live.
	// Calls whose callers were stopped mid-step (a ramp's failing step)
	// get no BYE and stay live until they time out; later settles do not
	// wait 3 s for as many again (run 21 waited so on six such calls at
	// each of ten steps: 30 s of the suite).
	left int
}

// settle polls the live calls until there are none (or no more than
// the last settle left), or they have not fallen for 3 s, for at most
// 30 s.
func (s *settler) settle(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	last, since := -1, time.Now()
	for {
		n := s.live(ctx)
		if n == 0 || (n > 0 && n <= s.left) {
			return nil
		}
		if n != last {
			last, since = n, time.Now()
		}
		if time.Since(since) > 3*time.Second || time.Now().After(deadline) {
			s.left = n
			return fmt.Errorf("%d calls still live", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ratesFrom is the core's ramp: rates from best on (the best over MCP),
// or all of them when best is not one of them. The core in process does
// the server's work less MCP's, so it passes the rate the server passed
// over MCP; the steps below it only lengthened the bench (33 s of it).
// Should it fail there all the same, the ramp is run whole.
func ratesFrom(rates []int, best int) []int {
	if i := slices.Index(rates, best); i > 0 {
		return rates[i:]
	}
	return rates
}

// referenceRates are the reference's ramp: the server's two top rates (the
// reference passes those with room to spare, and the steps below them
// only lengthened the bench), then on past the top by half a step at a
// time, extra steps at most, so that the reference ramp ends where sipp
// fails rather than where the server's ramp stops. Six extra steps reach
// 11x the top (3,000 -> 34,000/s); if sipp passes even that, the table
// says so ("top of the ramp").
func referenceRates(rates []int, extra int) []int {
	top := rates[len(rates)-1]
	out := slices.Clone(rates[max(0, len(rates)-2):])
	next := top
	for range extra {
		next = (next*3/2 + 250) / 500 * 500
		if next <= out[len(out)-1] {
			next = out[len(out)-1] * 3 / 2
		}
		out = append(out, next)
	}
	return out
}

// startCPUProfile profiles this process (the in-process runs) into name
// under the scratch directory; false when it cannot.
func (b *bench) startCPUProfile(name string) bool {
	f, err := os.Create(filepath.Join(b.tmp, name))
	if err != nil {
		log.Printf("CPU profile: %v", err)
		return false
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		log.Printf("CPU profile: %v", err)
		return false
	}
	b.profiling = f
	return true
}

// stopCPUProfile ends the profile startCPUProfile began and writes its
// cumulative top to out under the profiles directory.
func (b *bench) stopCPUProfile(name, out string) {
	pprof.StopCPUProfile()
	b.profiling.Close()
	self, err := os.Executable()
	if err != nil {
		log.Printf("CPU profile: %v", err)
		return
	}
	b.pprofTop(self, filepath.Join(b.tmp, name), filepath.Join(b.profDir, out), "-cum")
}
