package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// buildServer builds cmd/voicedock without the race detector, as it ships.
func buildServer(root, dir string) (string, error) {
	bin := filepath.Join(dir, "voicedock")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/voicedock")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build voicedock: %w", err)
	}
	return bin, nil
}

// serverProc is a running voicedock binary.
type serverProc struct {
	cmd      *exec.Cmd
	dataDir  string
	mcpURL   string
	sipAddr  string
	debugURL string
	// answered receives the id of every call the server answered (from its
	// "call answered" log line).
	answered chan string
	logMu    sync.Mutex
	logTail  []string
	done     chan struct{}
}

var (
	reHTTP     = regexp.MustCompile(`msg="mcp http listening" addr=(\S+)`)
	reSIP      = regexp.MustCompile(`msg="sip listening" addr=(\S+)`)
	reDebug    = regexp.MustCompile(`msg="debug listening" addr=(\S+)`)
	reAnswered = regexp.MustCompile(`msg="call answered" call_id=(\S+)`)
)

// serverEnv is the environment of a benchmarked server: no limit that
// would refuse load on purpose (rate limits, call cap), ports that fit.
func serverEnv(dataDir, webhookURL string, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dataDir,
		"VOICEDOCK_DATA_DIR=" + dataDir,
		"VOICEDOCK_LOG_LEVEL=info",
		"VOICEDOCK_SIP_ADDR=127.0.0.1:0",
		"VOICEDOCK_SIP_TRANSPORTS=udp",
		"VOICEDOCK_DEBUG_ADDR=127.0.0.1:0",
		"VOICEDOCK_RATE_LIMIT_PER_MINUTE=0",
		"VOICEDOCK_CALL_COMMANDS_PER_MINUTE=0",
		"VOICEDOCK_SIP_RATE_LIMIT=0",
		"VOICEDOCK_MAX_CALLS=0",
		"VOICEDOCK_MAX_TRANSFERS_IN_FLIGHT=0",
		// The outbox dispatcher sends 256 deliveries at a time (the
		// default, said here so that runs of older commits compare).
		"VOICEDOCK_WEBHOOK_CONCURRENCY=256",
		// Even ports only: 10,000 held calls need 20,000 ports. Ports
		// other processes hold are skipped by the server's pool.
		"VOICEDOCK_RTP_PORT_MIN=33000",
		"VOICEDOCK_RTP_PORT_MAX=60998",
	}
	if webhookURL != "" {
		env = append(env, "VOICEDOCK_WEBHOOK_URL="+webhookURL)
	}
	return append(env, extra...)
}

// startServer runs `voicedock serve --transport http` and waits until its
// MCP, SIP and debug listeners are up.
func startServer(ctx context.Context, bin, dataDir string, env []string) (*serverProc, error) {
	return startServerAt(ctx, bin, dataDir, "127.0.0.1:0", env)
}

// startServerAt is startServer with MCP on httpAddr, for a node whose
// address the others must know before it starts.
func startServerAt(ctx context.Context, bin, dataDir, httpAddr string, env []string) (*serverProc, error) {
	s := &serverProc{dataDir: dataDir, answered: make(chan string, 1<<16), done: make(chan struct{})}
	s.cmd = exec.CommandContext(ctx, bin, "serve", "--transport", "http", "--http-addr", httpAddr)
	s.cmd.Env = env
	s.cmd.Cancel = func() error { return s.cmd.Process.Signal(os.Interrupt) }
	s.cmd.WaitDelay = 15 * time.Second
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start voicedock: %w", err)
	}
	ready := make(chan struct{})
	go s.readLog(stderr, ready)
	go func() { s.cmd.Wait(); close(s.done) }()
	select {
	case <-ready:
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("voicedock exited at start:\n%s", s.tail())
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, fmt.Errorf("voicedock did not start listening:\n%s", s.tail())
	}
}

func (s *serverProc) readLog(r io.Reader, ready chan struct{}) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	signalled := false
	for sc.Scan() {
		line := sc.Text()
		if m := reAnswered.FindStringSubmatch(line); m != nil {
			s.answered <- m[1]
			continue
		}
		s.logMu.Lock()
		s.logTail = append(s.logTail, line)
		if len(s.logTail) > 200 {
			s.logTail = s.logTail[100:]
		}
		s.logMu.Unlock()
		if m := reHTTP.FindStringSubmatch(line); m != nil {
			s.mcpURL = "http://" + m[1] + "/mcp"
		}
		if m := reSIP.FindStringSubmatch(line); m != nil {
			s.sipAddr = m[1]
		}
		if m := reDebug.FindStringSubmatch(line); m != nil {
			s.debugURL = "http://" + m[1]
		}
		if !signalled && s.mcpURL != "" && s.sipAddr != "" && s.debugURL != "" {
			signalled = true
			close(ready)
		}
	}
}

func (s *serverProc) tail() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return strings.Join(s.logTail, "\n")
}

func (s *serverProc) pid() int { return s.cmd.Process.Pid }

// goroutines reads the server's goroutine count from its debug listener.
func (s *serverProc) goroutines() (int, error) {
	res, err := http.Get(s.debugURL + "/debug/goroutines")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// profile saves a pprof profile (path under /debug/pprof/) to file.
func (s *serverProc) profile(path, file string) error {
	res, err := http.Get(s.debugURL + "/debug/pprof/" + path)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, res.Body)
	return err
}

// stop interrupts the server and waits for it to shut down.
func (s *serverProc) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// drainAnswered empties the answered channel (left over from a run).
func (s *serverProc) drainAnswered() {
	for {
		select {
		case <-s.answered:
		default:
			return
		}
	}
}
