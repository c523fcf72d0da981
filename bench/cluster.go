package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/voicedock/voicedock/sip/kamailiotest"
	"github.com/voicedock/voicedock/store/postgres/pgtest"
)

// Cluster mode (-cluster): transfers per second through 1, 2 and 3 nodes
// sharing one PostgreSQL behind Kamailio (the shipped
// deploy/kamailio/kamailio.cfg), against the embedded default (one node
// on SQLite, called directly), side by side in one run. Each setup climbs
// the same rates with short steps; the CPU of every process involved is
// measured per group (the nodes, PostgreSQL, Kamailio), and PostgreSQL's
// own counters give the database's cost per transfer.

// clusterSetup is one configuration of the comparison.
type clusterSetup struct {
	name  string
	nodes int // 0: one node on SQLite, no Kamailio
}

// clusterResult is one setup's ramp and what each of its steps cost.
type clusterResult struct {
	Name   string
	Nodes  int
	Ramp   rampResult
	Splits []costSplit // one per step run, in the order they ran
	Best   costSplit   // the median over the runs at the best rate
}

// costSplit is what one step cost, per group of processes.
type costSplit struct {
	Transfers                 int
	Nodes, Postgres, Kamailio time.Duration // CPU used
	Commits, Rows             int64         // PostgreSQL transactions committed, rows written
}

// perTransfer is CPU in milliseconds per transfer.
func perTransfer(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return ms(d) / float64(n)
}

func (b *bench) clusterRuns(ctx context.Context, bin string, hooks *webhookCounter) ([]clusterResult, error) {
	log.Printf("starting PostgreSQL")
	pg, err := pgtest.Start(ctx)
	if err != nil {
		return nil, err
	}
	defer pg.Stop()
	rates := []int{25, 50, 100, 150, 200, 300, 400, 600, 800}
	dur, runs := 5*time.Second, 2
	if b.quick {
		rates, dur, runs = []int{5, 10}, 2*time.Second, 1
	}
	var out []clusterResult
	for _, setup := range []clusterSetup{{"1 node, SQLite", 0}, {"1 node, PostgreSQL", 1}, {"2 nodes, PostgreSQL", 2}, {"3 nodes, PostgreSQL", 3}} {
		r, err := b.clusterSetupRun(ctx, bin, hooks, pg, setup, rates, dur, runs)
		if err != nil {
			return out, fmt.Errorf("%s: %w", setup.name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// What the benchmark's nodes share: the key they call each other with and
// the key their stored secrets are sealed with.
const (
	clusterNodeKey   = "bench-node-key-0123456789abcdef"
	clusterSecretKey = "7c1e0b5a9d2f48e3a6b1c0d9e8f7a6b57c1e0b5a9d2f48e3a6b1c0d9e8f7a6b5"
)

func (b *bench) clusterSetupRun(ctx context.Context, bin string, hooks *webhookCounter, pg *pgtest.Cluster, setup clusterSetup, rates []int, dur time.Duration, runs int) (clusterResult, error) {
	res := clusterResult{Name: setup.name, Nodes: max(1, setup.nodes)}
	dbURL := ""
	if setup.nodes > 0 {
		var err error
		if dbURL, err = pg.CreateDatabase(ctx); err != nil {
			return res, err
		}
	}
	var nodes []*serverProc
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	for i := range res.Nodes {
		name := fmt.Sprintf("cluster-%d-node%d", setup.nodes, i+1)
		dataDir := filepath.Join(b.tmp, name)
		httpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(b.ports.free(1)))
		var extra []string
		if setup.nodes > 0 {
			extra = clusterNodeEnv(dbURL, fmt.Sprintf("node%d", i+1), "http://"+httpAddr+"/mcp")
		}
		s, err := startServerAt(ctx, bin, dataDir, httpAddr, serverEnv(dataDir, hooks.url, extra...))
		if err != nil {
			return res, err
		}
		nodes = append(nodes, s)
	}
	var proxy *kamailiotest.Proxy
	sipAddr := nodes[0].sipAddr
	if setup.nodes > 0 {
		var addrs []string
		for _, n := range nodes {
			addrs = append(addrs, n.sipAddr)
		}
		dir := filepath.Join(b.tmp, fmt.Sprintf("kamailio-%d", setup.nodes))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return res, err
		}
		var err error
		proxy, err = kamailiotest.Run(ctx, dir, kamailiotest.Options{
			// One worker (kamailiotest.Options): sipp's callers abort a
			// call whose messages two workers passed on out of order.
			Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(b.ports.free(1))), Nodes: addrs,
		})
		if err != nil {
			return res, err
		}
		defer proxy.Stop()
		sipAddr = proxy.Addr()
	}

	targetPort := b.ports.free(1)
	admin, err := dialMCP(ctx, nodes[0].mcpURL)
	if err != nil {
		return res, err
	}
	defer admin.Close()
	// On PostgreSQL one node's configuration is every node's.
	if err := configure(ctx, admin, targetPort); err != nil {
		return res, err
	}
	pools := make([]*clientPool, len(nodes))
	for i, n := range nodes {
		if pools[i], err = newClientPool(ctx, n.mcpURL, 16/len(nodes)+1); err != nil {
			return res, err
		}
		defer pools[i].close()
	}

	// Each node's answered calls, merged, with the node that holds each:
	// the transfer is asked of that node, as an agent connected to it
	// would; with -cluster-forward, of the next node, which carries it to
	// the holder (an agent behind a load balancer, most of the time).
	var (
		ownerMu sync.Mutex
		owner   = map[string]int{}
	)
	answered := make(chan string, 1<<16)
	for i, n := range nodes {
		go func() {
			for id := range n.answered {
				ownerMu.Lock()
				owner[id] = i
				ownerMu.Unlock()
				answered <- id
			}
		}()
	}
	meter := &costMeter{nodes: nodes, proxy: proxy, pg: pg, dbURL: dbURL}
	settled := &settler{live: mcpLive(admin)}
	target := transferTarget{
		name:     setup.name,
		sipAddr:  func() string { return sipAddr },
		answered: answered,
		transfer: func(ctx context.Context, id string) error {
			ownerMu.Lock()
			i := owner[id]
			delete(owner, id)
			ownerMu.Unlock()
			if b.clusterForward {
				i = (i + 1) % len(pools)
			}
			_, err := callTool(ctx, pools[i].get(), "transfer_call", map[string]any{"call_id": id, "destination": salesNumber})
			return err
		},
		pid: nodes[0].pid,
		drain: func() {
			for {
				select {
				case <-answered:
				default:
					return
				}
			}
		},
		before: func(ctx context.Context, step string) error { meter.start(ctx); return nil },
		settle: func(ctx context.Context) error {
			err := settled.settle(ctx)
			res.Splits = append(res.Splits, meter.end(ctx))
			return err
		},
	}
	ramp, err := b.ramp(ctx, target, targetPort, rates, dur, runs)
	if err != nil {
		return res, err
	}
	res.Ramp = ramp
	// The splits are in the order the steps ran: the ramp's steps, then
	// the extra runs at the best rate.
	ran := append(append([]stepResult(nil), ramp.Steps...), ramp.Runs[min(1, len(ramp.Runs)):]...)
	for i := range min(len(ran), len(res.Splits)) {
		res.Splits[i].Transfers = len(ran[i].Transferred)
	}
	res.Best = bestSplit(ramp, res.Splits)
	return res, nil
}

// clusterNodeEnv is what makes a node one of several: the shared
// PostgreSQL, its identity and where the others reach it.
func clusterNodeEnv(dbURL, id, url string) []string {
	return []string{
		"VOICEDOCK_DATABASE_URL=" + dbURL,
		"VOICEDOCK_NODE_ID=" + id,
		"VOICEDOCK_NODE_URL=" + url,
		"VOICEDOCK_NODE_KEY=" + clusterNodeKey,
		"VOICEDOCK_SECRET_KEY=" + clusterSecretKey,
	}
}

// bestSplit is the median cost (by total CPU per transfer) of the runs at
// the best rate. The ramp ran its steps first, then the extra runs.
func bestSplit(r rampResult, splits []costSplit) costSplit {
	if r.Best == 0 || len(splits) == 0 {
		return costSplit{}
	}
	var best []costSplit
	for i, st := range r.Steps {
		if st.Rate == r.Best && i < len(splits) {
			best = append(best, splits[i])
		}
	}
	if extra := splits[min(len(r.Steps), len(splits)):]; len(extra) > 0 {
		best = append(best, extra...)
	}
	sort.Slice(best, func(i, j int) bool { return best[i].total() < best[j].total() })
	return best[len(best)/2]
}

func (c costSplit) total() float64 {
	return perTransfer(c.Nodes+c.Postgres+c.Kamailio, c.Transfers)
}

// costMeter measures a step's cost: CPU of the nodes, of PostgreSQL's
// processes and of Kamailio's, and PostgreSQL's commit and row counters
// for the setup's database.
type costMeter struct {
	nodes []*serverProc
	proxy *kamailiotest.Proxy
	pg    *pgtest.Cluster
	dbURL string

	t0                time.Time
	nodes0, pg0, kam0 time.Duration
	commits0, rows0   int64
}

func (m *costMeter) start(ctx context.Context) {
	m.t0 = time.Now()
	m.nodes0, m.pg0, m.kam0 = m.cpu()
	m.commits0, m.rows0 = m.dbCounters(ctx)
}

func (m *costMeter) end(ctx context.Context) costSplit {
	nodes, pg, kam := m.cpu()
	commits, rows := m.dbCounters(ctx)
	return costSplit{Nodes: nodes - m.nodes0, Postgres: pg - m.pg0, Kamailio: kam - m.kam0,
		Commits: commits - m.commits0, Rows: rows - m.rows0}
}

// cpu is the CPU used so far by the nodes, PostgreSQL (the postmaster and
// its backends) and Kamailio (its main process and workers).
func (m *costMeter) cpu() (nodes, pg, kam time.Duration) {
	tree := processTree()
	for _, n := range m.nodes {
		nodes += procCPU(n.pid())
	}
	if m.dbURL != "" {
		if pid, err := postmasterPID(m.pg); err == nil {
			pg = treeCPU(tree, pid)
		}
	}
	if m.proxy != nil {
		kam = treeCPU(tree, m.proxy.PID())
	}
	return nodes, pg, kam
}

// dbCounters reads the database's committed transactions and rows
// written from pg_stat_database (PostgreSQL flushes them about once a
// second, well within a step).
func (m *costMeter) dbCounters(ctx context.Context) (commits, rows int64) {
	if m.dbURL == "" {
		return 0, 0
	}
	conn, err := pgx.Connect(ctx, m.dbURL)
	if err != nil {
		log.Printf("pg_stat_database: %v", err)
		return 0, 0
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, `SELECT xact_commit, tup_inserted + tup_updated + tup_deleted
		FROM pg_stat_database WHERE datname = current_database()`).Scan(&commits, &rows)
	if err != nil {
		log.Printf("pg_stat_database: %v", err)
	}
	return commits, rows
}

// postmasterPID reads the server's pid from the data folder's
// postmaster.pid (its first line).
func postmasterPID(pg *pgtest.Cluster) (int, error) {
	data, err := os.ReadFile(filepath.Join(pg.Dir(), "data", "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(data), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// processTree maps each running process to its children.
func processTree() map[int][]int {
	tree := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			tree[ppid] = append(tree[ppid], pid)
		}
	}
	return tree
}

// treeCPU is the CPU used by pid and its descendants alive now.
func treeCPU(tree map[int][]int, pid int) time.Duration {
	total := procCPU(pid)
	for _, c := range tree[pid] {
		total += treeCPU(tree, c)
	}
	return total
}

// writeCluster writes the comparison as markdown.
func writeCluster(path string, m machine, quick, forward bool, took time.Duration, rs []clusterResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Cluster benchmark results\n\n")
	fmt.Fprintf(&b, "Written by `go run ./bench -cluster` (see bench/README.md, \"Cluster mode\"). ")
	if quick {
		fmt.Fprintf(&b, "**A -quick smoke run: a few seconds at low rates; not numbers to quote.** ")
	}
	fmt.Fprintf(&b, "Took %s.", took.Round(time.Second))
	if forward {
		fmt.Fprintf(&b, " With -cluster-forward: each transfer asked of a node that does not hold the call (on several nodes), which carries it to the one that does.")
	}
	fmt.Fprintf(&b, "\n\n")
	fmt.Fprintf(&b, "Machine: %s, %d cores, %.1f GiB; load before: %s; commit %s; %s; %s; %s.\n\n",
		m.CPU, m.Cores, m.MemGiB, m.Load, m.Commit, m.Go, m.Sipp, m.Date)
	fmt.Fprintf(&b, "Everything runs on this one machine: the nodes, PostgreSQL, Kamailio, the sipp callers and target, and the driver share its cores.\n\n")
	fmt.Fprintf(&b, "| Setup | Best rate (transfers/s, zero failures) | Runs OK | p50 ms | p99 ms | CPU ms per transfer: nodes | PostgreSQL | Kamailio | total | PostgreSQL commits per transfer | rows written per transfer | transfers/s per core, on paper |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		s := r.Ramp.summary()
		c := r.Best
		perCore := "n/a"
		if t := c.total(); t > 0 {
			perCore = fmt.Sprintf("%.0f", 1000/t)
		}
		fmt.Fprintf(&b, "| %s | %d | %d/%d | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f | %.1f | %.1f | %s |\n",
			r.Name, s.Rate, s.ZeroFailRuns, s.Runs, s.P50, s.P99,
			perTransfer(c.Nodes, c.Transfers), perTransfer(c.Postgres, c.Transfers), perTransfer(c.Kamailio, c.Transfers), c.total(),
			perCall(c.Commits, c.Transfers), perCall(c.Rows, c.Transfers), perCore)
	}
	fmt.Fprintf(&b, "\nEach step: sipp callers at the rate for the step's duration through the setup's SIP address (Kamailio for the PostgreSQL setups), each answered call transferred with `transfer_call` on the node that holds it (with -cluster-forward, on the next node); a step counts when every call and transfer succeeded and the last call ended within %s of the last INVITE. \"Per core, on paper\" is 1,000 ms over the total CPU per transfer: what one more core would add if nothing else bound it.\n\n", keepUp)
	fmt.Fprintf(&b, "## Steps\n\n| Setup | Rate | Calls | OK | Failed | Transfer errors | p50 ms | p99 ms | CPU ms/transfer (nodes + PostgreSQL + Kamailio) |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		for i, st := range r.Ramp.Steps {
			cost := "n/a"
			if i < len(r.Splits) {
				c := r.Splits[i]
				cost = fmt.Sprintf("%.2f + %.2f + %.2f", perTransfer(c.Nodes, c.Transfers), perTransfer(c.Postgres, c.Transfers), perTransfer(c.Kamailio, c.Transfers))
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %.1f | %.1f | %s |\n", r.Name, st.Rate, st.Calls, st.Successful, st.Failed, st.TransferErrors, ms(st.P50), ms(st.P99), cost)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func perCall(n int64, calls int) float64 {
	if calls == 0 {
		return 0
	}
	return float64(n) / float64(calls)
}

// runCluster is `go run ./bench -cluster`: the cluster comparison alone,
// written to out.
func runCluster(quick bool, out string, keep, forward bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	for _, tool := range []string{"sipp", "kamailio", "kamcmd"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("cluster mode needs %s on PATH (scripts/test.sh installs it): %w", tool, err)
		}
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return fmt.Errorf("run from the module root: go run ./bench -cluster")
	}
	b := &bench{root: root, quick: quick, clusterForward: forward}
	if b.tmp, err = os.MkdirTemp("", "voicedock-bench-cluster"); err != nil {
		return err
	}
	if keep {
		log.Printf("scratch directory %s", b.tmp)
	} else {
		defer os.RemoveAll(b.tmp)
	}
	if _, err := raiseFileLimit(); err != nil {
		return fmt.Errorf("raise the open-file limit: %w", err)
	}
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
	rs, err := b.clusterRuns(ctx, bin, hooks)
	if err != nil {
		if len(rs) == 0 {
			return err
		}
		log.Printf("cluster runs stopped: %v", err)
	}
	if werr := writeCluster(out, describeMachine(), quick, b.clusterForward, time.Since(started), rs); werr != nil {
		return errors.Join(err, werr)
	}
	log.Printf("wrote %s in %s", out, time.Since(started).Round(time.Second))
	return err
}
