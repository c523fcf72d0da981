package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// transferTarget is what a transfer run drives: something that answers
// the callers' INVITEs and transfers them (the server over MCP, the core
// in process, or the sipp reference).
type transferTarget struct {
	name string
	// sipAddr is where the callers send their INVITEs.
	sipAddr func() string
	// answered delivers the id of each answered call; nil when the
	// target transfers by itself (the reference).
	answered <-chan string
	// transfer moves one call, returning once its final NOTIFY was handled.
	transfer func(ctx context.Context, callID string) error
	// pid is the process whose CPU and memory are measured.
	pid func() int
	// before and after bracket a step (the reference starts its sipp here).
	before func(ctx context.Context, step string) error
	after  func() (rtds []time.Duration, failed int)
	// drain discards leftovers of a previous step.
	drain func()
	// setTargetPort tells the reference where the sipp target listens.
	setTargetPort func(int)
	// settle, when set, waits until the target holds no calls, so that
	// a step's backlog does not spill into the next.
	settle func(ctx context.Context) error
	// callerScenario is the callers' sipp scenario in bench/scenarios;
	// testdata/sipp/uac_transfer_ok.xml when empty.
	callerScenario string
	// profile, when set, takes a CPU profile of dur during the ramp's
	// last run at the best rate, and returns when it is saved.
	profile func(dur time.Duration) error
	// inRamp is set by ramp: its steps stop callers that overrun.
	inRamp bool
}

type stepResult struct {
	Rate           int
	Calls          int
	Successful     int
	Failed         int // sipp's failed calls (caller and reference)
	TransferErrors int
	FirstError     string
	P50, P99       time.Duration
	CPU, RSS       float64
	// LoadCPU is what the load generators used, in percent of one core,
	// over the same window as CPU: the sipp callers and target, and the
	// bench's own process where it is not the server (the MCP driver and
	// the webhook receiver).
	LoadCPU float64
	// CPUTime and LoadCPUTime are the server's and the load generators'
	// CPU time over the step, for the CPU each spent per call.
	CPUTime, LoadCPUTime time.Duration
	Transferred          []string
	Wall, Dur            time.Duration
}

// ok is a step with zero failures that kept up: its last call ended
// within keepUp of the callers' last INVITE. A server that answers
// every call but falls ever further behind (a growing queue, transfer
// times of seconds) does not sustain the rate.
func (r stepResult) ok() bool {
	return r.Calls > 0 && r.Failed == 0 && r.TransferErrors == 0 && r.Successful == r.Calls && r.keptUp()
}

func (r stepResult) keptUp() bool { return r.Wall <= r.Dur+keepUp }

// keepUp is how long after the last INVITE the last call may end: a
// transfer takes about 60 ms (50 ms of it the target ringing).
const keepUp = 3 * time.Second

// transferStep calls the target at rate calls/s for dur, transferring
// each call to a sipp target.
func (b *bench) transferStep(ctx context.Context, t transferTarget, targetPort, rate int, dur time.Duration) (stepResult, error) {
	res := stepResult{Rate: rate, Dur: dur}
	n := max(1, int(float64(rate)*dur.Seconds()))
	step := fmt.Sprintf("%s-%d-%d", t.name, rate, time.Now().UnixNano())
	if t.drain != nil {
		t.drain()
	}
	targetScenario, err := b.scenario("uas_target_answer.xml")
	if err != nil {
		return res, err
	}
	target, err := startSipp(ctx, b.tmp, step+"-target", "-sf", targetScenario,
		"-i", "127.0.0.1", "-p", strconv.Itoa(targetPort), "-mp", strconv.Itoa(b.ports.free(4)),
		"-set", "ring_ms", "50", "-l", strconv.Itoa(n+1000))
	if err != nil {
		return res, err
	}
	defer target.stop()
	if t.setTargetPort != nil {
		t.setTargetPort(targetPort)
	}
	if t.before != nil {
		if err := t.before(ctx, step); err != nil {
			return res, err
		}
	}
	// No wait for sipp's servers to bind: an INVITE sent before that is
	// retransmitted (every 500 ms) and shows only in the first call's time.

	var (
		mu        sync.Mutex
		latencies []time.Duration
		wg        sync.WaitGroup
	)
	tctx, cancelTransfers := context.WithCancel(ctx)
	defer cancelTransfers()
	stopDispatch := make(chan struct{})
	dispatchDone := make(chan struct{})
	go func() {
		defer close(dispatchDone)
		if t.answered == nil {
			return
		}
		for {
			select {
			case id := <-t.answered:
				wg.Add(1)
				go func() {
					defer wg.Done()
					cctx, cancel := context.WithTimeout(tctx, 40*time.Second)
					defer cancel()
					start := time.Now()
					err := t.transfer(cctx, id)
					d := time.Since(start)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						res.TransferErrors++
						if res.FirstError == "" {
							res.FirstError = errText(err)
						}
						return
					}
					latencies = append(latencies, d)
					res.Transferred = append(res.Transferred, id)
				}()
			case <-stopDispatch:
				return
			}
		}
	}()

	s := startSampler(t.pid())
	// What the generators use is what the server cannot have of the
	// cores they share; it bounds a rate once the two fill them.
	self := os.Getpid()
	driverCounted := t.pid() != self
	var self0 time.Duration
	if driverCounted {
		self0 = procCPU(self)
	}
	target0 := target.cpu()
	start := time.Now()
	callerScenario, err := b.scenario("uac_transfer_ok.xml")
	if err != nil {
		return res, err
	}
	if t.callerScenario != "" {
		callerScenario = filepath.Join(b.root, "bench", "scenarios", t.callerScenario)
	}
	caller, err := startSipp(ctx, b.tmp, step+"-caller", t.sipAddr(), "-sf", callerScenario,
		"-s", ourNumber[1:], "-i", "127.0.0.1", "-p", strconv.Itoa(b.ports.free(1)), "-mp", strconv.Itoa(b.ports.free(4)),
		"-r", strconv.Itoa(rate), "-m", strconv.Itoa(n), "-l", strconv.Itoa(n+1000), "-recv_timeout", "30000")
	if err != nil {
		close(stopDispatch)
		return res, err
	}
	// In a ramp, callers still running past keepUp have failed the step
	// already; what is left is sipp waiting out its 30 s timeouts (three
	// reference runs added 80 s to a bench; a 1,000/s step over MCP that
	// lost five calls ran 46 s). Against a server of ours they get 10 s
	// more, for most of its calls to end before the next step (settle
	// waits for the rest); the reference, sipp on both sides, holds
	// nothing that would spill into a later step. Outside a ramp (the
	// steady state, overload) a call may rightly run longer: a transfer
	// refused overloaded is retried for up to 25 s.
	giveUp := dur + 45*time.Second
	switch {
	case t.answered == nil:
		giveUp = dur + keepUp + 2*time.Second
	case t.inRamp:
		giveUp = dur + keepUp + 10*time.Second
	}
	if !caller.wait(giveUp) {
		log.Printf("%s: callers still running after %s; stopping them", step, giveUp)
		caller.stop()
	}
	res.Wall = time.Since(start)
	close(stopDispatch)
	<-dispatchDone
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(20 * time.Second):
		cancelTransfers()
		<-waited
	}
	res.CPU, res.RSS = s.end()
	res.CPUTime = s.cpuUsed
	res.LoadCPUTime = caller.cpu() + target.cpu() - target0
	if driverCounted {
		res.LoadCPUTime += procCPU(self) - self0
	}
	res.LoadCPU = 100 * float64(res.LoadCPUTime) / float64(s.wallUsed)
	st := caller.stats()
	res.Calls, res.Successful, res.Failed = n, st.Successful, st.Failed
	if st.Failed > 0 || st.Successful != n {
		log.Printf("%s: caller sipp: %+v\n%s", step, st, caller.tail())
	}
	if t.after != nil {
		rtds, failed := t.after()
		res.Failed += failed
		latencies = append(latencies, rtds...)
	}
	if t.settle != nil {
		if err := t.settle(ctx); err != nil {
			log.Printf("%s: %v", step, err)
		}
	}
	sorted := sortedCopy(latencies)
	res.P50, res.P99 = percentile(sorted, 50), percentile(sorted, 99)
	log.Printf("%s: %d/s: %d calls in %.1fs, %d ok, %d failed, %d transfer errors %s; p50 %.1f ms p99 %.1f ms; CPU %.0f%% RSS %.0f MiB; load generators' CPU %.0f%%",
		t.name, rate, n, res.Wall.Seconds(), res.Successful, res.Failed, res.TransferErrors, res.FirstError, ms(res.P50), ms(res.P99), res.CPU, res.RSS, res.LoadCPU)
	return res, nil
}

// rampResult is a target's ramp: every step, the best rate and the runs
// at it.
type rampResult struct {
	Name  string
	Steps []stepResult
	Best  int
	// Top is the ramp's last rate: a Best equal to it did not find where
	// the target fails.
	Top  int
	Runs []stepResult // the runs at Best (the ramp's step first)
}

// ramp raises the rate along rates until a step fails, then repeats the
// best rate until there are runs of it.
func (b *bench) ramp(ctx context.Context, t transferTarget, targetPort int, rates []int, dur time.Duration, runs int) (rampResult, error) {
	r := rampResult{Name: t.name, Top: rates[len(rates)-1]}
	t.inRamp = true
	var bestRun stepResult
	for _, rate := range rates {
		res, err := b.transferStep(ctx, t, targetPort, rate, dur)
		if err != nil {
			return r, err
		}
		r.Steps = append(r.Steps, res)
		if !res.ok() {
			break
		}
		r.Best, bestRun = rate, res
	}
	if r.Best == 0 {
		return r, nil
	}
	r.Runs = append(r.Runs, bestRun)
	for len(r.Runs) < runs {
		var prof chan error
		if t.profile != nil && len(r.Runs) == runs-1 {
			prof = make(chan error, 1)
			go func() { prof <- t.profile(dur - time.Second) }()
		}
		res, err := b.transferStep(ctx, t, targetPort, r.Best, dur)
		if prof != nil {
			if perr := <-prof; perr != nil {
				log.Printf("%s: CPU profile: %v", t.name, perr)
			}
		}
		if err != nil {
			return r, err
		}
		r.Runs = append(r.Runs, res)
	}
	return r, nil
}
