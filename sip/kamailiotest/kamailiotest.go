// Package kamailiotest runs Kamailio (Debian's kamailio 5.x) from the
// config shipped in deploy/kamailio, as the SIP dispatcher in front of
// voicedock nodes in tests and benchmarks. Nothing of the config is copied:
// the shipped file runs as it is, its #!define values (addresses, the
// node list, timers) set on the command line with -A, the way an operator
// would. Every process binds to loopback and is stopped by its pid.
package kamailiotest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ConfigFile is deploy/kamailio/kamailio.cfg of the module, found from
// this file.
func ConfigFile() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "deploy", "kamailio", "kamailio.cfg")
}

// Options are the defines the shipped config is run with.
type Options struct {
	// Addr is the UDP ip:port Kamailio listens on (required: Kamailio
	// cannot be told to pick a free port).
	Addr string
	// Nodes are the voicedock nodes' SIP addresses (ip:port), set 1 of
	// the dispatcher list.
	Nodes []string
	// PingInterval is ds_ping_interval in whole seconds (default 1).
	PingInterval int
	// Timeout is tm's fr_timer, the wait for any reply from a node, which
	// also bounds each health probe (default 500 ms).
	Timeout time.Duration
	// CallerNets are the networks allowed to start calls (default
	// 127.0.0.0/8).
	CallerNets string
	// Children are Kamailio's UDP worker processes (default 1). Workers
	// read the one socket side by side, so two messages of a call that
	// arrive together may leave in the other order: a 180 after its 200,
	// a BYE before the 200 of a NOTIFY. Phones take that in their stride;
	// sipp's scripted peers abort the call. One worker keeps the order.
	Children int
}

// Proxy is one running Kamailio.
type Proxy struct {
	addr string
	dir  string
	opts Options
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  logBuffer
}

// logBuffer keeps Kamailio's log and wakes waiters on every line.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func (b *logBuffer) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(line)
	b.buf.WriteByte('\n')
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
}

func (b *logBuffer) snapshot() (string, chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	return b.buf.String(), b.changed
}

// Run starts Kamailio with the shipped config in dir (its runtime
// directory: pid file, control socket, dispatcher list) and returns once
// it listens on opts.Addr. Cancelling ctx does not stop it: Stop does.
func Run(ctx context.Context, dir string, opts Options) (*Proxy, error) {
	bin, err := exec.LookPath("kamailio")
	if err != nil {
		if _, statErr := os.Stat("/usr/sbin/kamailio"); statErr != nil {
			return nil, fmt.Errorf("kamailio is not installed (scripts/test.sh installs Debian's kamailio): %w", err)
		}
		bin = "/usr/sbin/kamailio"
	}
	if opts.Addr == "" || len(opts.Nodes) == 0 {
		return nil, errors.New("kamailiotest: Addr and Nodes are required")
	}
	if opts.PingInterval == 0 {
		opts.PingInterval = 1
	}
	if opts.Timeout == 0 {
		opts.Timeout = 500 * time.Millisecond
	}
	if opts.CallerNets == "" {
		opts.CallerNets = "127.0.0.0/8"
	}
	if opts.Children == 0 {
		opts.Children = 1
	}
	p := &Proxy{addr: opts.Addr, dir: dir, opts: opts, done: make(chan struct{})}
	if err := p.writeList(opts.Nodes); err != nil {
		return nil, err
	}
	args := []string{"-f", ConfigFile(), "-DD", "-E", "-Y", dir, "-P", filepath.Join(dir, "kamailio.pid"),
		"-A", "LISTEN=udp:" + opts.Addr,
		"-A", fmt.Sprintf("DS_LIST=%q", p.listFile()),
		"-A", fmt.Sprintf("CTL_SOCKET=%q", p.ctlSocket()),
		"-A", fmt.Sprintf("CALLER_NETS=%q", opts.CallerNets),
		"-A", "DS_PING_INTERVAL=" + strconv.Itoa(opts.PingInterval),
		"-A", "FR_TIMER=" + strconv.Itoa(int(opts.Timeout.Milliseconds())),
		"-A", "CHILDREN=" + strconv.Itoa(opts.Children),
		"-A", "LOG_LEVEL=2",
		// Small shared and private memory: the default 64 MiB of shared
		// memory per instance is more than a test needs.
		"-m", "32", "-M", "4",
	}
	p.cmd = exec.Command(bin, args...)
	// Its own process group, so that Stop can reach the worker processes
	// if the main one dies without taking them down.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stdout = p.cmd.Stderr
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start kamailio: %w", err)
	}
	read := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.log.add(sc.Text())
		}
		close(read)
	}()
	go func() {
		<-read
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	if err := p.waitListening(ctx); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// Start is Run for a test: Kamailio is stopped when the test ends, and
// its log is shown when the test failed.
func Start(t testing.TB, opts Options) *Proxy {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	p, err := Run(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("kamailio log:\n%s", tail(p.Log()))
		}
	})
	return p
}

// Addr is Kamailio's SIP address (ip:port, UDP).
func (p *Proxy) Addr() string { return p.addr }

// PID is the main Kamailio process's pid; its workers are its children.
func (p *Proxy) PID() int { return p.cmd.Process.Pid }

// Log is everything Kamailio logged so far.
func (p *Proxy) Log() string {
	s, _ := p.log.snapshot()
	return s
}

// WaitLog waits until Kamailio's log has a match of re after offset from,
// and returns the match and the offset just past it.
func (p *Proxy) WaitLog(ctx context.Context, re *regexp.Regexp, from int) ([]string, int, error) {
	for {
		text, changed := p.log.snapshot()
		if from <= len(text) {
			if loc := re.FindStringSubmatchIndex(text[from:]); loc != nil {
				return re.FindStringSubmatch(text[from:]), from + loc[1], nil
			}
		}
		select {
		case <-changed:
		case <-p.done:
			return nil, 0, fmt.Errorf("kamailio exited (%v) before logging %s", p.err, re)
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("kamailio never logged %s: %w", re, ctx.Err())
		}
	}
}

// NodeState is one node's state as the dispatcher has it.
type NodeState struct {
	URI   string
	Flags string // AP: active and probed; IP: inactive (down), probed; TP: trying
}

// Active reports whether the dispatcher sends new calls to the node.
func (s NodeState) Active() bool { return strings.HasPrefix(s.Flags, "A") }

var (
	listURI   = regexp.MustCompile(`URI:\s*(\S+)`)
	listFlags = regexp.MustCompile(`FLAGS:\s*(\S+)`)
)

// Nodes asks the running Kamailio for its nodes' states (kamcmd
// dispatcher.list over its control socket).
func (p *Proxy) Nodes(ctx context.Context) ([]NodeState, error) {
	out, err := exec.CommandContext(ctx, "kamcmd", "-s", p.ctlSocket(), "dispatcher.list").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("kamcmd dispatcher.list: %w: %s", err, out)
	}
	var states []NodeState
	for _, block := range strings.Split(string(out), "DEST:")[1:] {
		u, f := listURI.FindStringSubmatch(block), listFlags.FindStringSubmatch(block)
		if u == nil || f == nil {
			return nil, fmt.Errorf("kamcmd dispatcher.list: unexpected output %q", out)
		}
		states = append(states, NodeState{URI: u[1], Flags: f[1]})
	}
	return states, nil
}

// WaitNode waits until the dispatcher has node (ip:port) active or not,
// asking every 50 ms (Kamailio announces no state change on its own), and
// returns how long that took.
func (p *Proxy) WaitNode(ctx context.Context, node string, active bool) (time.Duration, error) {
	start := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		states, err := p.Nodes(ctx)
		if err != nil {
			return 0, err
		}
		for _, s := range states {
			if s.URI == "sip:"+node && s.Active() == active {
				return time.Since(start), nil
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return 0, fmt.Errorf("node %s never became active=%v: %v (last %v)", node, active, ctx.Err(), states)
		}
	}
}

// Stop stops Kamailio (SIGTERM to its main process, which stops its
// workers) and waits for it; after 5 s it kills the process group it
// started.
func (p *Proxy) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func (p *Proxy) listFile() string  { return filepath.Join(p.dir, "dispatcher.list") }
func (p *Proxy) ctlSocket() string { return "unix:" + filepath.Join(p.dir, "kamailio_ctl") }

func (p *Proxy) writeList(nodes []string) error {
	var b strings.Builder
	for _, n := range nodes {
		if _, _, err := net.SplitHostPort(n); err != nil {
			return fmt.Errorf("kamailiotest: node %q: %w", n, err)
		}
		fmt.Fprintf(&b, "1 sip:%s 0 0\n", n)
	}
	return os.WriteFile(p.listFile(), []byte(b.String()), 0o600)
}

// waitListening waits until Kamailio answers on its control socket:
// its SIP sockets are bound before its workers start.
func (p *Proxy) waitListening(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := p.Nodes(ctx); err == nil {
			return nil
		}
		select {
		case <-tick.C:
		case <-p.done:
			return fmt.Errorf("kamailio exited: %v\n%s", p.err, tail(p.Log()))
		case <-ctx.Done():
			return fmt.Errorf("kamailio did not start: %w\n%s", ctx.Err(), tail(p.Log()))
		}
	}
}

// tail is the last 32 KiB of s.
func tail(s string) string {
	const keep = 32 << 10
	if len(s) <= keep {
		return s
	}
	return fmt.Sprintf("[... %d bytes before]\n", len(s)-keep) + s[len(s)-keep:]
}
