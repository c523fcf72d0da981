package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/voicedock/voicedock/core"
)

const (
	// idlePoll is the longest the dispatcher sleeps with nothing due, in
	// case a delivery was written without a Notify.
	idlePoll = 30 * time.Second
	// spinGuard is the shortest sleep after a round that started nothing
	// though something was due (a delivery still in flight after its
	// claim ran out), so that the loop never spins.
	spinGuard = 100 * time.Millisecond
	// claimMargin is how much longer than the attempt's timeout a claim
	// lasts: time to record the outcome (bounded by storeWriteTimeout).
	// It is also how long a delivery that was in flight when the process
	// was killed waits after a restart, so it is kept short.
	claimMargin = storeWriteTimeout
	// storeWriteTimeout bounds recording an outcome, retries included,
	// which must happen even when Run is stopping.
	storeWriteTimeout = 10 * time.Second
	// recordTries and recordRetry: how often and how soon recording an
	// outcome is tried again (the wait doubles).
	recordTries = 4
	recordRetry = 50 * time.Millisecond
	// storeRetryMax caps the wait after failing store calls.
	storeRetryMax = 30 * time.Second
	// roundGap is the least time between the starts of two rounds when
	// the first was small (it started fewer than minRound deliveries).
	// Below saturation every Notify (a commit, an attempt's end) was a
	// round of its own: a due query, a claim and a next-due query for a
	// delivery or two, the dispatcher's main cost at a few hundred
	// transfers a second. Waiting a little lets a round take what
	// arrived meanwhile; under load rounds are large and not paced.
	roundGap = 10 * time.Millisecond
	// outcomeWait is the longest an outcome waits for others to share
	// its write while all slots but a few are busy (see round).
	outcomeWait = 20 * time.Millisecond
)

// Dispatcher sends the outbox's deliveries. Create it with NewDispatcher,
// start Run, and call Notify after committing new deliveries.
type Dispatcher struct {
	store   core.DeliveryStore
	secrets SecretSource
	cfg     Config
	client  *http.Client
	// transport sends the deliveries: the client's, without the client.
	// A delivery follows no redirect and is bounded by its own context,
	// so Client.Do's redirect and timeout handling (a copy of the
	// headers per request among it) was cost without use.
	transport http.RoundTripper
	logger    *slog.Logger
	now       func() time.Time

	wake    chan struct{} // a pending wake-up; capacity 1
	running atomic.Bool
	// lastRound is when Run's last round started, and lastStarted how
	// many deliveries it started (see roundGap); Run's own.
	lastRound   time.Time
	lastStarted int

	mu       sync.Mutex
	inFlight map[string]time.Time // the deliveries being sent: when their claims run out
	// outcomes are the attempts ended since the last round, to be
	// recorded in one write at the start of the next (see
	// recordOutcomes); their deliveries stay in flight until then.
	outcomes []outcome
}

// NewDispatcher returns a dispatcher of store's deliveries. secrets
// supplies the assistants' webhook secrets; with nil, deliveries of an
// assistant are retried until they are dead, never sent unsigned.
func NewDispatcher(store core.DeliveryStore, secrets SecretSource, cfg Config, logger *slog.Logger) *Dispatcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	client := cfg.httpClient()
	transport := client.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	return &Dispatcher{
		store:     store,
		secrets:   secrets,
		cfg:       cfg,
		client:    client,
		transport: transport,
		logger:    logger,
		now:       time.Now,
		wake:      make(chan struct{}, 1),
		inFlight:  make(map[string]time.Time),
	}
}

// Notify wakes Run up to look for due deliveries now. It never blocks;
// wake-ups while one is pending are merged.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run sends due deliveries until ctx is done, then stops the attempts in
// flight (they do not count, and are sent again on the next start), waits
// for them and returns nil. A store that fails or panics is logged and
// tried again later; it does not end Run. Only one Run may be active.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("webhooks: dispatcher already running")
	}
	defer d.running.Store(false)
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		d.recordOutcomes(ctx, d.takeOutcomes())
	}()

	d.logger.InfoContext(ctx, "webhook dispatcher started", "concurrency", d.cfg.Concurrency)
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		if pause := d.pace(time.Now()); pause > 0 {
			timer.Reset(pause)
			select {
			case <-ctx.Done():
				d.logger.InfoContext(ctx, "webhook dispatcher stopping", "in_flight", d.inFlightCount())
				return nil
			case <-timer.C:
			}
		}
		d.lastRound = time.Now()
		wait, err := d.round(ctx, &wg)
		if ctx.Err() != nil {
			d.logger.InfoContext(ctx, "webhook dispatcher stopping", "in_flight", d.inFlightCount())
			return nil
		}
		if err != nil {
			failures++
			wait = d.storeRetry(failures)
			d.logger.ErrorContext(ctx, "webhook outbox", "err", err, "failures", failures, "retry_in", wait)
		} else {
			failures = 0
		}
		var tick <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			d.logger.InfoContext(ctx, "webhook dispatcher stopping", "in_flight", d.inFlightCount())
			return nil
		case <-d.wake:
		case <-tick:
		}
	}
}

// round records the outcomes of the attempts that ended since the last
// round and starts the due deliveries there are free slots for, in one
// store write (RecordAndClaim): a call's next event is claimed in the
// write that records its previous one delivered. It returns how long to
// sleep before the next round: until the next delivery falls due, or -1
// to wait for a wake-up (a finished delivery frees a slot and wakes Run).
func (d *Dispatcher) round(ctx context.Context, wg *sync.WaitGroup) (time.Duration, error) {
	if busy, queued, oldest := d.queuedOutcomes(); busy > 0 && d.cfg.Concurrency-busy+queued < d.minRound() {
		// Each delivery that ends frees a slot and wakes Run: a round per
		// slot was a write per delivery. Waiting for a few slots makes
		// each round's write serve several; the deliveries in flight end
		// (or time out) and wake Run. Outcomes wait at most outcomeWait.
		if queued == 0 {
			return -1, nil
		}
		if left := outcomeWait - time.Since(oldest); left > 0 {
			return left, nil
		}
	}
	batch := d.takeOutcomes()
	now := d.now()
	busy, expired := d.inFlightClaims(now, batch)
	free := d.cfg.Concurrency - busy
	until := now.Add(d.cfg.Timeout + claimMargin)
	round := core.DeliveryRound{Outcomes: outcomeDeliveries(batch), Now: now, Until: until, Limit: free}
	// The write claims the next event of each call whose delivery ended
	// first; the candidates read are for the slots left. Reading a
	// candidate for every free slot read, with its body, rows that the
	// calls' next events then left out, round after round.
	if want := free - nextOfCalls(batch); want > 0 {
		// The due query runs before the round's write, on the store's
		// read side: in the write it held up the transfer path's writes
		// for as long as it took to skip the deliveries waiting behind
		// their calls' first. A delivery in flight is not due while its
		// claim holds; asking for one more per claim that ran out leaves
		// room for those, which are skipped.
		var due []core.WebhookDelivery
		err := d.safely("find due deliveries", func() (err error) {
			due, err = d.store.DueDeliveries(ctx, now, want+expired)
			return err
		})
		if err != nil {
			d.recordOutcomes(ctx, batch)
			return 0, err
		}
		for _, del := range due {
			if len(round.Candidates) == want {
				break
			}
			if !d.isInFlight(del.ID) {
				round.Candidates = append(round.Candidates, del)
			}
		}
	}
	claimed, err := d.recordAndClaim(ctx, batch, round)
	if err != nil {
		return 0, err
	}
	for _, del := range claimed {
		d.start(ctx, wg, del, until)
	}
	started := len(claimed)
	free -= started
	d.lastStarted = started
	if free <= 0 {
		return -1, nil
	}
	var (
		next time.Time
		ok   bool
	)
	err = d.safely("find the next due delivery", func() (err error) {
		next, ok, err = d.store.NextDueAt(ctx)
		return err
	})
	if err != nil || !ok {
		return idlePoll, err
	}
	wait := next.Sub(d.now())
	if wait <= 0 && started == 0 {
		wait = spinGuard
	}
	return min(max(wait, 0), idlePoll), nil
}

// nextOfCalls counts the outcomes in batch that end their delivery to a
// call's URL: the round's write claims the call's next event to that
// URL, if there is one.
func nextOfCalls(batch []outcome) int {
	n := 0
	for _, o := range batch {
		if o.del.CallID != "" && o.del.Status != core.DeliveryPending && !o.released {
			n++
		}
	}
	return n
}

// recordAndClaim makes the round's write and returns the deliveries it
// claimed, which no round picks up again while they are in flight (nor
// the deliveries of their calls behind them); if the process dies, the
// claims run out and they are sent again. The outcomes are recorded even
// when the round fails or Run is stopping: then on their own, with
// retries (recordOutcomes), and the claim waits for the next round.
func (d *Dispatcher) recordAndClaim(ctx context.Context, batch []outcome, round core.DeliveryRound) ([]core.WebhookDelivery, error) {
	if len(batch) == 0 && len(round.Candidates) == 0 {
		return nil, nil
	}
	var claimed []core.WebhookDelivery
	err := d.safely(fmt.Sprintf("record %d webhook outcomes and claim up to %d deliveries", len(batch), round.Limit),
		func() (err error) {
			claimed, err = d.store.RecordAndClaim(ctx, round)
			return err
		})
	if err != nil {
		d.recordOutcomes(ctx, batch)
		return nil, err
	}
	d.finishOutcomes(ctx, batch, nil)
	return claimed, nil
}

// start sends del in a goroutine of its own; its claim runs out at until.
func (d *Dispatcher) start(ctx context.Context, wg *sync.WaitGroup, del core.WebhookDelivery, until time.Time) {
	d.mu.Lock()
	d.inFlight[del.ID] = until
	d.mu.Unlock()
	wg.Go(func() {
		// Run records the outcome, frees the slot, and so lets the next
		// of del's call fall due.
		defer d.Notify()
		defer func() {
			if r := recover(); r != nil {
				d.mu.Lock()
				delete(d.inFlight, del.ID)
				d.mu.Unlock()
				d.logger.ErrorContext(ctx, "webhook delivery panicked; it is retried when its claim runs out",
					"delivery_id", del.ID, "panic", fmt.Sprint(r))
			}
		}()
		d.deliver(ctx, del)
	})
}

// pace returns how long Run waits before its next round, at now: what
// is left of roundGap after a small round.
func (d *Dispatcher) pace(now time.Time) time.Duration {
	if d.lastStarted >= d.minRound() || d.lastRound.IsZero() {
		return 0
	}
	return roundGap - now.Sub(d.lastRound)
}

// minRound is the fewest free slots a round starts with while deliveries
// are in flight: a quarter of Concurrency.
func (d *Dispatcher) minRound() int { return max(1, d.cfg.Concurrency/4) }

func (d *Dispatcher) isInFlight(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.inFlight[id]
	return ok
}

// queuedOutcomes counts the deliveries in flight and those of them whose
// outcomes wait to be recorded, and says when the oldest of those ended.
func (d *Dispatcher) queuedOutcomes() (busy, queued int, oldest time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.outcomes) > 0 {
		oldest = d.outcomes[0].ended
	}
	return len(d.inFlight), len(d.outcomes), oldest
}

// inFlightClaims counts the deliveries in flight but those whose
// outcomes are in batch (being recorded), and those of them whose claims
// have run out by now: they are due again, but not to be sent twice.
func (d *Dispatcher) inFlightClaims(now time.Time, batch []outcome) (busy, expired int) {
	ending := make(map[string]bool, len(batch))
	for _, o := range batch {
		ending[o.del.ID] = true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, until := range d.inFlight {
		if ending[id] {
			continue
		}
		busy++
		if !until.After(now) {
			expired++
		}
	}
	return busy, expired
}

func (d *Dispatcher) inFlightCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.inFlight)
}

// storeRetry is the wait after the given number of store failures in a
// row: doubling from BackoffBase (at least 100ms), at most storeRetryMax.
func (d *Dispatcher) storeRetry(failures int) time.Duration {
	wait := max(d.cfg.BackoffBase, spinGuard)
	for i := 1; i < failures && wait < storeRetryMax; i++ {
		wait *= 2
	}
	return min(wait, storeRetryMax)
}

// safely runs a store call, turning a panic into an error.
func (d *Dispatcher) safely(op string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: panic: %v", op, r)
		}
	}()
	if err := fn(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}
