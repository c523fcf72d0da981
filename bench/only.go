package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"
)

// runOnly runs one phase of the suite, for working on one target without
// the whole ten minutes; its figures are in the log, not in RESULTS.md.
func runOnly(phase string, best int, rates string, quick, keep bool, runs int, cpuProfile string, webhooks bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	b := &bench{root: root, quick: quick, runs: 1, dur: 10 * time.Second,
		rates: []int{100, 250, 500, 750, 1000, 1500, 2000, 3000}, cpuProfile: cpuProfile}
	if quick {
		b.dur, b.rates = 3*time.Second, []int{50, 150}
	}
	if runs > 0 {
		b.runs = runs
	}
	if rates != "" {
		b.rates = nil
		for _, f := range strings.Split(rates, ",") {
			r, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || r <= 0 {
				return fmt.Errorf("-rates: %q is not a positive rate", f)
			}
			b.rates = append(b.rates, r)
		}
	}
	if b.tmp, err = os.MkdirTemp("", "voicedock-bench-only"); err != nil {
		return err
	}
	b.profDir = b.tmp
	if keep {
		log.Printf("scratch directory %s", b.tmp)
	} else {
		defer os.RemoveAll(b.tmp)
	}
	if _, err := raiseFileLimit(); err != nil {
		return fmt.Errorf("raise the open-file limit: %w", err)
	}
	var res results
	switch phase {
	case "embedded":
		return b.embeddedRuns(ctx, &res)
	case "reference":
		_, err := b.ramp(ctx, b.referenceTarget(), b.ports.free(1), b.rates, b.dur, b.runs)
		return err
	case "mcp", "load":
	default:
		return fmt.Errorf("-only %q: want mcp, load, embedded or reference", phase)
	}
	bin, err := buildServer(root, b.tmp)
	if err != nil {
		return err
	}
	hooks, err := startWebhooks()
	if err != nil {
		return err
	}
	if phase == "load" {
		res.MCP.Best = best
		err := b.loadPhases(ctx, bin, hooks, &res)
		log.Printf("steady %+v", res.Steady)
		if res.SteadyBelow != nil {
			log.Printf("steady below %+v", *res.SteadyBelow)
		}
		log.Printf("overload %+v", res.Overload)
		return err
	}
	// The MCP ramp alone: a server with no held-call or stdio phase after it.
	if !webhooks {
		hooks = nil
	}
	return b.serverRuns(ctx, bin, hooks, 0, &res)
}
