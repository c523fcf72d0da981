package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// freePort returns a port free for UDP and TCP on 127.0.0.1, picked at
// random in 20000-31999 like sip/sipptest: below the kernel's ephemeral
// range, so nothing the kernel hands out takes it before sipp binds it.
// handed remembers ports given out in this run.
type portPicker struct {
	mu     sync.Mutex
	handed map[int]bool
}

func (p *portPicker) free(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.handed == nil {
		p.handed = map[int]bool{}
	}
next:
	for {
		base := 20000 + rand.IntN(12000-n)
		for i := range n {
			if p.handed[base+i] {
				continue next
			}
			u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(base+i))
			if err != nil {
				continue next
			}
			u.Close()
			t, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i))
			if err != nil {
				continue next
			}
			t.Close()
		}
		for i := range n {
			p.handed[base+i] = true
		}
		return base
	}
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func sortedCopy(d []time.Duration) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// procCPU returns the user+system CPU time a process has used.
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields start after the last ')'.
	s := string(data)
	s = s[strings.LastIndexByte(s, ')')+2:]
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	// USER_HZ is 100 on every Linux the benchmark runs on.
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// procRSS returns a process's resident set size in bytes.
func procRSS(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// sampler follows a process's CPU and peak RSS over a window.
type sampler struct {
	pid      int
	cpu0     time.Duration
	t0       time.Time
	peak     int64
	stop     chan struct{}
	done     chan struct{}
	cpuUsed  time.Duration
	wallUsed time.Duration
}

func startSampler(pid int) *sampler {
	s := &sampler{pid: pid, cpu0: procCPU(pid), t0: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tk := time.NewTicker(200 * time.Millisecond)
		defer tk.Stop()
		for {
			s.peak = max(s.peak, procRSS(pid))
			select {
			case <-tk.C:
			case <-s.stop:
				return
			}
		}
	}()
	return s
}

// end returns CPU use in percent of one core and the peak RSS in MiB.
func (s *sampler) end() (cpuPct, rssMiB float64) {
	close(s.stop)
	<-s.done
	s.peak = max(s.peak, procRSS(s.pid))
	s.cpuUsed = procCPU(s.pid) - s.cpu0
	s.wallUsed = time.Since(s.t0)
	return 100 * float64(s.cpuUsed) / float64(s.wallUsed), float64(s.peak) / (1 << 20)
}

// machine describes where the numbers were measured.
type machine struct {
	CPU    string
	Cores  int
	MemGiB float64
	Commit string
	Go     string
	Sipp   string
	Load   string
	Date   string
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC().Format(time.RFC3339)}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		fmt.Sscanf(strings.SplitN(string(data), "\n", 2)[0], "MemTotal: %f kB", &kb)
		m.MemGiB = kb / (1 << 20)
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.Load = strings.Join(strings.Fields(string(data))[:3], " ")
	}
	if out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
			m.Commit += " (with uncommitted changes)"
		}
	}
	// sipp -v exits non-zero; its output is what counts.
	if out, _ := exec.Command("sipp", "-v").CombinedOutput(); len(out) > 0 {
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "SIPp v") {
				m.Sipp = strings.TrimSpace(line)
				break
			}
		}
	}
	return m
}

// raiseFileLimit lifts the soft limit on open files to the hard one: a
// held call takes a socket (its RTP port) in the server, and the children
// inherit the limit.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}
