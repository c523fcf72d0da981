package main

import (
	"context"
	"fmt"
	"log"
	"strconv"
	"sync"
	"time"
)

// heldResult is the concurrent-calls benchmark.
type heldResult struct {
	Calls, Held                      int
	RSS0, RSSHeld                    float64 // MiB
	G0, GHeld                        int
	SetupRate                        float64
	TransferRate                     float64
	TransferErrors, CallerFailed     int
	P50, P99                         time.Duration
	MissingCompleted, MissingReports int
	Pending, Dead                    int // the server's outbox after the wait
	FirstError                       string
}

// heldCalls holds n calls open on the server at once, measures its memory
// and goroutines per call, then transfers them all.
func (b *bench) heldCalls(ctx context.Context, s *serverProc, pool *clientPool, hooks *webhookCounter, targetPort, n, setupRate, inFlight int) (heldResult, error) {
	r := heldResult{Calls: n}
	s.drainAnswered()
	r.RSS0 = float64(procRSS(s.pid())) / (1 << 20)
	g0, err := s.goroutines()
	if err != nil {
		return r, fmt.Errorf("goroutines: %w", err)
	}
	r.G0 = g0
	targetScenario, err := b.scenario("uas_target_answer.xml")
	if err != nil {
		return r, err
	}
	callerScenario, err := b.scenario("uac_transfer_ok.xml")
	if err != nil {
		return r, err
	}
	target, err := startSipp(ctx, b.tmp, "held-target", "-sf", targetScenario,
		"-i", "127.0.0.1", "-p", strconv.Itoa(targetPort), "-mp", strconv.Itoa(b.ports.free(4)),
		"-set", "ring_ms", "50", "-l", strconv.Itoa(n+1000))
	if err != nil {
		return r, err
	}
	defer target.stop()
	start := time.Now()
	caller, err := startSipp(ctx, b.tmp, "held-caller", s.sipAddr, "-sf", callerScenario,
		"-s", ourNumber[1:], "-i", "127.0.0.1", "-p", strconv.Itoa(b.ports.free(1)), "-mp", strconv.Itoa(b.ports.free(4)),
		"-r", strconv.Itoa(setupRate), "-m", strconv.Itoa(n), "-l", strconv.Itoa(n+1000), "-max_socket", "100",
		"-recv_timeout", "600000")
	if err != nil {
		return r, err
	}
	defer caller.stop()
	ids := make([]string, 0, n)
	deadline := time.After(time.Duration(n/setupRate)*time.Second + 60*time.Second)
collect:
	for len(ids) < n {
		select {
		case id := <-s.answered:
			ids = append(ids, id)
		case <-deadline:
			break collect
		case <-caller.done:
			log.Printf("held: callers exited early:\n%s", caller.tail())
			break collect
		}
	}
	r.Held = len(ids)
	r.SetupRate = float64(len(ids)) / time.Since(start).Seconds()
	// Let the last ACKs and timers settle before measuring: the
	// goroutine count is read until it stops falling.
	gHeld, _ := s.goroutines()
	for range 10 {
		time.Sleep(500 * time.Millisecond)
		g, _ := s.goroutines()
		if g >= gHeld {
			gHeld = g
			break
		}
		gHeld = g
	}
	r.GHeld = gHeld
	r.RSSHeld = float64(procRSS(s.pid())) / (1 << 20)
	_ = s.profile("heap", b.tmp+"/held-heap.pb.gz")
	_ = s.profile("goroutine?debug=1", b.profDir+"/held-goroutines.txt")
	log.Printf("held: %d calls held; RSS %.0f -> %.0f MiB; goroutines %d -> %d", r.Held, r.RSS0, r.RSSHeld, r.G0, r.GHeld)

	// Transfer them all, inFlight at a time.
	var (
		mu   sync.Mutex
		lats []time.Duration
		done []string
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, inFlight)
	tstart := time.Now()
	for _, id := range ids {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			t := time.Now()
			_, err := callTool(cctx, pool.get(), "transfer_call", map[string]any{"call_id": id, "destination": salesNumber})
			d := time.Since(t)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.TransferErrors++
				if r.FirstError == "" {
					r.FirstError = errText(err)
				}
				return
			}
			lats = append(lats, d)
			done = append(done, id)
		}()
	}
	wg.Wait()
	r.TransferRate = float64(len(done)) / time.Since(tstart).Seconds()
	s2 := sortedCopy(lats)
	r.P50, r.P99 = percentile(s2, 50), percentile(s2, 99)
	if !caller.wait(60 * time.Second) {
		log.Printf("held: callers still running after the transfers")
	}
	st := caller.stats()
	r.CallerFailed = st.Failed + (n - st.Successful - st.Failed)
	r.MissingCompleted, r.MissingReports = hooks.waitFor(done, 15*time.Second, 90*time.Second)
	r.Pending, r.Dead = outbox(ctx, pool.get())
	log.Printf("held: transferred %d at %.0f/s (p50 %.1f ms, p99 %.1f ms), %d errors %s; callers failed %d; webhooks missing %d/%d; outbox %d pending, %d dead",
		len(done), r.TransferRate, ms(r.P50), ms(r.P99), r.TransferErrors, r.FirstError, r.CallerFailed, r.MissingCompleted, r.MissingReports, r.Pending, r.Dead)
	return r, nil
}
