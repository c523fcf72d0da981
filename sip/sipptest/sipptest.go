// Package sipptest runs sipp, the SIP traffic generator (Debian's
// sip-tester), as a real SIP peer in tests: a caller, a transfer target, a
// trunk. It is to SIP what net/http/httptest is to HTTP. Every process
// binds to a loopback address only and is bounded in time.
package sipptest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
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
	ip     string
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

// Ports are picked at random in [portLow, portHigh]: above the default
// RTP range (10000-20000) and below the kernel's ephemeral ports (Linux's
// default ip_local_port_range starts at 32768), so that no socket the
// kernel hands out can take a port between the check here and sipp's bind.
const (
	portLow  = 20000
	portHigh = 31999
)

// handedOut are the ports given out in this process to tests still
// running, so that two tests running in parallel are never given the same
// one. sipp binds a port some time after it was checked free; until then
// only this set keeps another test from picking it.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// ephemeralRange is the kernel's ip_local_port_range (32768-60999 when
// it cannot be read).
func ephemeralRange() (lo, hi int) {
	lo, hi = 32768, 60999
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return lo, hi
	}
	a, err1 := strconv.Atoi(f[0])
	b, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return lo, hi
	}
	return a, b
}

// FreePort returns a port free for both UDP and TCP on 127.0.0.1 (and
// 127.0.0.2), outside the kernel's ephemeral range.
func FreePort(t testing.TB) int {
	t.Helper()
	return freeRun(t, 1, true)
}

// MediaPort returns the first of four consecutive UDP ports free on the
// loopback addresses, for sipp's -mp: sipp binds audio RTP and RTCP there
// and video RTP and RTCP on the two ports after.
func MediaPort(t testing.TB) int {
	t.Helper()
	return freeRun(t, 4, false)
}

// freeRun finds n consecutive ports, free for UDP (and TCP with tcp),
// outside the ephemeral range and not handed out before in this process.
func freeRun(t testing.TB, n int, tcp bool) int {
	t.Helper()
	elo, ehi := ephemeralRange()
	handedOut.Lock()
	defer handedOut.Unlock()
next:
	for range 1000 {
		port := portLow + rand.IntN(portHigh-portLow+2-n)
		for p := port; p < port+n; p++ {
			if handedOut.ports[p] || (p >= elo && p <= ehi) || !free(p, tcp) {
				continue next
			}
		}
		for p := port; p < port+n; p++ {
			handedOut.ports[p] = true
		}
		t.Cleanup(func() {
			handedOut.Lock()
			defer handedOut.Unlock()
			for p := port; p < port+n; p++ {
				delete(handedOut.ports, p)
			}
		})
		return port
	}
	t.Fatalf("no %d free ports in %d-%d", n, portLow, portHigh)
	return 0
}

// free reports whether port can be bound for UDP (and TCP) on 127.0.0.1
// and 127.0.0.2, the addresses tests bind sipp to.
func free(port int, tcp bool) bool {
	for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		ap := netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(port))
		u, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return false
		}
		_ = u.Close()
		if tcp {
			l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(ap))
			if err != nil {
				return false
			}
			_ = l.Close()
		}
	}
	return true
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
// cannot start; Wait checks how it ended. Its traces (stderr, errors, the
// scenario's <log> lines and every message) are shown when the test fails,
// or always with SIPP_TRACE=1.
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
	p := &Process{name: name, ip: opts.IP, port: FreePort(t), dir: t.TempDir(), done: make(chan struct{})}
	full := []string{
		"-sf", filepath.Join(ScenarioDir(), name),
		"-i", opts.IP, "-bind_local", "-p", strconv.Itoa(p.port),
		"-mp", strconv.Itoa(MediaPort(t)),
		"-m", strconv.Itoa(opts.Calls), "-nostdin",
		"-timeout", fmt.Sprintf("%ds", int(opts.Timeout.Seconds())), "-timeout_error",
		"-recv_timeout", "20000",
		"-trace_err", "-error_file", filepath.Join(p.dir, "errors.log"),
		"-trace_msg", "-message_file", filepath.Join(p.dir, "messages.log"),
		"-trace_logs", "-log_file", filepath.Join(p.dir, "logs.log"),
	}
	full = append(full, args...)
	full = append(full, authURI(remote, args)...)
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
		p.waitBound(t)
	}
	return p
}

// authURI is the -auth_uri for a sipp that answers digest challenges (-au)
// and calls remote: the Request-URI our scenarios send,
// sip:[service]@[remote_ip]:[remote_port]. Without it sipp computes its
// answer for sip:[remote_ip]:[remote_port], which RFC 3261 22.4 does not
// allow and the user agent refuses.
func authURI(remote string, args []string) []string {
	if remote == "" || slices.Contains(args, "-auth_uri") || !slices.Contains(args, "-au") {
		return nil
	}
	service := "service" // sipp's default for -s
	if i := slices.Index(args, "-s"); i >= 0 && i+1 < len(args) {
		service = args[i+1]
	}
	return []string{"-auth_uri", service + "@" + remote}
}

// Addr is the sipp's SIP address.
func (p *Process) Addr() string { return net.JoinHostPort(p.ip, strconv.Itoa(p.port)) }

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
	} else if os.Getenv("SIPP_TRACE") != "" {
		t.Logf("sipp %s:\n%s", p.name, p.Traces())
	}
}

// Exit waits for sipp to exit and returns how: nil for exit status 0 (every
// call succeeded), else the *exec.ExitError. For runs where calls are meant
// to fail, as a flood's dropped INVITEs do.
func (p *Process) Exit(t testing.TB) error {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(90 * time.Second):
		t.Fatalf("sipp %s did not exit", p.name)
	}
	return p.err
}

// Done is closed when sipp has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Traces returns sipp's stderr, errors, <log> lines and messages, each
// cut to its last 32 KiB (a run of thousands of calls writes megabytes).
func (p *Process) Traces() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- stderr:\n%s\n", tail(p.stderr.String()))
	for _, f := range []string{"errors.log", "logs.log", "messages.log"} {
		if data, err := os.ReadFile(filepath.Join(p.dir, f)); err == nil {
			fmt.Fprintf(&b, "--- %s:\n%s\n", f, tail(string(data)))
		}
	}
	return b.String()
}

// tail is the last 32 KiB of s.
func tail(s string) string {
	const keep = 32 << 10
	if len(s) <= keep {
		return s
	}
	return fmt.Sprintf("[... %d bytes before]\n", len(s)-keep) + s[len(s)-keep:]
}

// waitBound watches /proc/net/udp until sipp's address is bound:
// readiness of another process, checked with a deadline.
func (p *Process) waitBound(t testing.TB) {
	t.Helper()
	want := procNetAddrs(p.ip, p.port)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		data, err := os.ReadFile("/proc/net/udp")
		if err != nil {
			t.Fatalf("cannot tell when sipp listens: %v", err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if fields := strings.Fields(line); len(fields) > 1 && (strings.EqualFold(fields[1], want[0]) || strings.EqualFold(fields[1], want[1])) {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("sipp %s exited early: %v\n%s", p.name, p.err, p.Traces())
		case <-deadline:
			t.Fatalf("sipp %s did not bind udp %s", p.name, p.Addr())
		case <-tick.C:
		}
	}
}

// procNetAddrs are ip:port as /proc/net/udp shows a local IPv4 address:
// the address as a hex word in the host's byte order (little-endian
// first), the port in hex.
func procNetAddrs(ip string, port int) [2]string {
	a := netip.MustParseAddr(ip).As4()
	return [2]string{
		fmt.Sprintf("%02X%02X%02X%02X:%04X", a[3], a[2], a[1], a[0], port),
		fmt.Sprintf("%02X%02X%02X%02X:%04X", a[0], a[1], a[2], a[3], port),
	}
}
