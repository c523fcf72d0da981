// Package sipptest runs sipp, the SIP traffic generator (Debian's
// sip-tester), as a real SIP peer in tests: a caller, a transfer target, a
// trunk. It is to SIP what net/http/httptest is to HTTP. Every process
// binds to 127.0.0.1 only and is bounded in time.
package sipptest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ScenarioDir is testdata/sipp of the module, found from this file.
func ScenarioDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "sipp")
}

// Process is one running sipp.
type Process struct {
	name   string
	port   int
	dir    string
	cmd    *exec.Cmd
	stderr lockedBuffer
	done   chan struct{}
	err    error
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// FreePort returns a port free for both UDP and TCP on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		_ = u.Close()
		if err == nil {
			_ = l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// Options tune one sipp run.
type Options struct {
	// IP is the local address to bind (default 127.0.0.1); another
	// loopback address (127.0.0.2) plays a foreign source.
	IP string
	// Calls is -m (default 1).
	Calls int
	// Timeout bounds the whole run (default 40 s).
	Timeout time.Duration
}

// Start runs sipp with scenario name (a file in ScenarioDir) against
// remote, or as a UAS waiting for calls when remote is empty, in which case
// it returns only once sipp's UDP port is bound. The test fails if sipp
// cannot start; Wait checks how it ended.
func Start(t testing.TB, name, remote string, opts Options, args ...string) *Process {
	t.Helper()
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Fatalf("sipp is not installed (scripts/test.sh installs Debian's sip-tester): %v", err)
	}
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if opts.Calls == 0 {
		opts.Calls = 1
	}
	if opts.Timeout == 0 {
		opts.Timeout = 40 * time.Second
	}
	p := &Process{name: name, port: FreePort(t), dir: t.TempDir(), done: make(chan struct{})}
	full := []string{
		"-sf", filepath.Join(ScenarioDir(), name),
		"-i", opts.IP, "-bind_local", "-p", strconv.Itoa(p.port),
		"-mp", strconv.Itoa(FreePort(t)),
		"-m", strconv.Itoa(opts.Calls), "-nostdin",
		"-timeout", fmt.Sprintf("%ds", int(opts.Timeout.Seconds())), "-timeout_error",
		"-recv_timeout", "20000",
		"-trace_err", "-error_file", filepath.Join(p.dir, "errors.log"),
		"-trace_msg", "-message_file", filepath.Join(p.dir, "messages.log"),
	}
	full = append(full, args...)
	if remote != "" {
		full = append([]string{remote}, full...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout+20*time.Second)
	p.cmd = exec.CommandContext(ctx, "sipp", full...)
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start sipp %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		cancel()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
		if t.Failed() {
			t.Logf("sipp %s (%v):\n%s", p.name, p.err, p.Traces())
		}
	})
	if remote == "" {
		p.waitBound(t, opts.IP)
	}
	return p
}

// Addr is the sipp's SIP address.
func (p *Process) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

// Port is the sipp's SIP port.
func (p *Process) Port() int { return p.port }

// Wait waits for sipp to exit and fails the test unless it exited 0 (every
// call of the scenario succeeded).
func (p *Process) Wait(t testing.TB) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(90 * time.Second):
		t.Fatalf("sipp %s did not exit", p.name)
	}
	if p.err != nil {
		t.Errorf("sipp %s: %v (exit status 0 means every call succeeded)\n%s", p.name, p.err, p.Traces())
	}
}

// Done is closed when sipp has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Traces returns sipp's stderr, error and message logs.
func (p *Process) Traces() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- stderr:\n%s\n", p.stderr.String())
	for _, f := range []string{"errors.log", "messages.log"} {
		if data, err := os.ReadFile(filepath.Join(p.dir, f)); err == nil {
			fmt.Fprintf(&b, "--- %s:\n%s\n", f, data)
		}
	}
	return b.String()
}

// waitBound watches /proc/net/udp until sipp's port is bound: readiness of
// another process, checked with a deadline.
func (p *Process) waitBound(t testing.TB, ip string) {
	t.Helper()
	want := fmt.Sprintf(":%04X", p.port)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		data, err := os.ReadFile("/proc/net/udp")
		if err != nil {
			t.Fatalf("cannot tell when sipp listens: %v", err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			fields := strings.Fields(line)
			if len(fields) > 1 && strings.HasSuffix(fields[1], want) {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("sipp %s exited early: %v\n%s", p.name, p.err, p.Traces())
		case <-deadline:
			t.Fatalf("sipp %s did not bind udp port %d", p.name, p.port)
		case <-tick.C:
		}
	}
}
