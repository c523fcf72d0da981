package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// A state write that still fails at its deadline, retries included
// (retryStore), leaves its call behind the store: the store is down for
// longer than a write waits (a database failing over, a full disk). The
// write carried the webhooks of the change, the end-of-call-report among
// them, and a call that has ended has no later write to carry them.
//
// So the call keeps what was not stored: its rows are its current state
// (lc.call and lc.call.Transfers are what the failed writes would have
// written), its webhook rows are kept in order (lc.kept), and so are the
// rows of its conversation not written (lc.keptRows). A call
// behind is caught up, its rows and kept rows written, before any later
// write of it, so that its events are stored in the order they happened;
// while that fails, each later write's webhook rows join the kept ones.
// A call that ended behind is caught up by catchUpCalls, which tries
// again, waiting longer each time, until the store takes it or the
// manager shuts down. What is left at shutdown is written by the next
// start from the call's file in KeptDir (store_behind_file.go); without
// one, it is live in the store, and the next start's recovery ends it
// (RecoverAfterRestart), with its webhooks, once.

const (
	// catchUpWait is the wait before a call behind is first tried again
	// in the background; it doubles up to catchUpMax.
	catchUpWait = time.Second
	catchUpMax  = 30 * time.Second
)

// errBehind is what a state write of a call behind the store returns
// when it was not made: its webhook rows are kept with the call's.
var errBehind = errors.New("the store has not taken the call's earlier state: this change is kept with it")

// behindCalls are the calls behind the store, by id (store_behind.go).
type behindCalls struct {
	mu      sync.Mutex
	calls   map[string]*liveCall
	running bool // catchUpCalls is running
}

// keepLocked records that a state write with the webhook rows out failed
// with err after its retries; lc.mu is held. A refusal of the store's (a
// coded *Error such as not_found) is not kept: another try would only
// repeat it.
func (m *Calls) keepLocked(ctx context.Context, lc *liveCall, out []WebhookDelivery, err error) {
	var coded *Error
	if errors.As(err, &coded) {
		return
	}
	lc.kept = append(lc.kept, out...)
	m.fallBehindLocked(ctx, lc, err)
	m.saveKeptLocked(ctx, lc)
}

// storeRowLocked writes a row of the call's conversation (a transcript
// line, a key pressed) with its webhook rows, as a state write is
// written: after the call is caught up, tried again within the deadline,
// and kept with the call's state when the store does not take it; lc.mu
// is held. Nothing is written of a call another node took over.
func (m *Calls) storeRowLocked(ctx context.Context, lc *liveCall, what string, row keptRow) {
	sctx, cancel := m.storeContext(ctx)
	defer cancel()
	switch {
	case m.lostLocked(sctx, lc):
	case !m.caughtUpLocked(sctx, lc, nil):
		lc.keptRows = append(lc.keptRows, row)
		m.saveKeptLocked(ctx, lc)
	default:
		err := m.retryStore(sctx, func() error { return m.writeRow(sctx, row) })
		if err == nil {
			return
		}
		m.logger.ErrorContext(ctx, "store "+what, "call_id", lc.call.ID, "err", err)
		var coded *Error
		if !errors.As(err, &coded) {
			lc.keptRows = append(lc.keptRows, row)
			m.fallBehindLocked(ctx, lc, err)
			m.saveKeptLocked(ctx, lc)
		}
	}
}

// keptRow is a row of a call's conversation, a transcript line or a key
// pressed, with its webhook rows, as the store is to take it.
type keptRow struct {
	Line     *TranscriptLine
	Digit    *Digit
	Webhooks []WebhookDelivery
}

// writeRow writes a row of a call's conversation with its webhook rows.
func (m *Calls) writeRow(ctx context.Context, r keptRow) error {
	store, err := m.conversationStore()
	if err != nil {
		return err
	}
	if r.Line != nil {
		return store.AddTranscriptLine(ctx, *r.Line, r.Webhooks...)
	}
	return store.AddDigit(ctx, *r.Digit, r.Webhooks...)
}

// conversationStore is where a call's conversation is written: the one
// SetConversation attached, or, before it is (the next start's writing of
// what a process kept), the call store when it is one.
func (m *Calls) conversationStore() (ConversationStore, error) {
	if m.hear != nil {
		return m.hear.store, nil
	}
	if s, ok := m.callStore.(ConversationStore); ok {
		return s, nil
	}
	return nil, Errorf(CodeInternal, "no store of conversations to write a call's kept line or key to")
}

// fallBehindLocked marks lc behind the store after a write failed with
// err, and starts the background catch-ups; lc.mu is held.
func (m *Calls) fallBehindLocked(ctx context.Context, lc *liveCall, err error) {
	if lc.behind {
		return
	}
	lc.behind = true
	m.logger.ErrorContext(ctx, "the store did not take the call's state; it is kept and written when the store takes it",
		"call_id", lc.call.ID, "err", err)
	m.behind.mu.Lock()
	defer m.behind.mu.Unlock()
	if m.behind.calls == nil {
		m.behind.calls = map[string]*liveCall{}
	}
	m.behind.calls[lc.call.ID] = lc
	if !m.behind.running {
		m.behind.running = m.work.Go(m.catchUpCalls)
	}
}

// caughtUpLocked reports whether a state write of lc may be made now: lc
// is not behind the store, or has just been caught up. When it may not,
// out joins the kept webhook rows; lc.mu is held.
func (m *Calls) caughtUpLocked(ctx context.Context, lc *liveCall, out []WebhookDelivery) bool {
	if !lc.behind || m.catchUpLocked(ctx, lc) == nil {
		return true
	}
	lc.kept = append(lc.kept, out...)
	m.saveKeptLocked(ctx, lc)
	return false
}

// catchUpFirst catches lc up before a transfer's first write, which is
// made on its own, and reports whether it was; lc.mu is held. A transfer
// the store is not taking is not started (callBehind).
func (m *Calls) catchUpFirst(ctx context.Context, lc *liveCall) bool {
	sctx, cancel := m.storeContext(ctx)
	defer cancel()
	return m.catchUpLocked(sctx, lc) == nil
}

// catchUpLocked writes lc's call and transfers as they are now, with the
// kept webhook rows, in one try: catchUpCalls does the trying again. It
// returns nil once lc is no longer behind (caught up, or given up as
// another node's or on a refusal of the store's); lc.mu is held.
func (m *Calls) catchUpLocked(ctx context.Context, lc *liveCall) error {
	if !lc.behind {
		return nil
	}
	if m.ownedElsewhereLocked(ctx, lc) {
		m.forgetBehindLocked(lc)
		return nil
	}
	kept, rows := len(lc.kept), len(lc.keptRows)
	err := m.writeWholeCall(ctx, lc)
	var coded *Error
	switch {
	case err == nil:
		m.logger.InfoContext(ctx, "the store took the call's state kept since it failed", "call_id", lc.call.ID, "webhooks", len(lc.kept))
	case errors.As(err, &coded):
		m.logger.ErrorContext(ctx, "the store refused the call's kept state; given up", "call_id", lc.call.ID, "webhooks", len(lc.kept), "err", err)
	default:
		if len(lc.kept) != kept || len(lc.keptRows) != rows {
			// What was written is no longer kept: its file says so too.
			m.saveKeptLocked(ctx, lc)
		}
		return err
	}
	m.forgetBehindLocked(lc)
	return nil
}

// forgetBehindLocked marks lc no longer behind the store; lc.mu is held.
func (m *Calls) forgetBehindLocked(lc *liveCall) {
	lc.behind, lc.kept, lc.keptRows = false, nil, nil
	m.removeKeptLocked(lc)
	m.behind.mu.Lock()
	defer m.behind.mu.Unlock()
	if m.behind.calls[lc.call.ID] == lc {
		delete(m.behind.calls, lc.call.ID)
	}
}

// ownedElsewhereLocked reports whether another node holds lc now, asked
// of the store whatever the lease says: a lease renewed again after it
// lapsed does not show that the call was taken meanwhile, and a second
// end of a call another node ended is a second end-of-call-report. A
// live call taken is let go (takenLocked); lc.mu is held.
func (m *Calls) ownedElsewhereLocked(ctx context.Context, lc *liveCall) bool {
	if lc.lost {
		return true
	}
	if m.node == nil {
		return false
	}
	if m.get(lc.call.ID) == lc {
		return m.takenLocked(ctx, lc)
	}
	o, err := m.node.cfg.Store.CallOwner(ctx, lc.call.ID)
	if err != nil || o.Node == "" || o.Node == m.node.cfg.ID {
		return false
	}
	lc.lost = true
	return true
}

// writeWholeCall writes lc's transfers, then the conversation rows kept,
// in order, then its call with the kept webhook rows; lc.mu is held. A
// transfer or call write is of the whole row, so one made twice (a
// catch-up that failed half way) is harmless; a conversation row is
// written once, and dropped from the kept ones as soon as it is.
func (m *Calls) writeWholeCall(ctx context.Context, lc *liveCall) error {
	for _, t := range lc.call.Transfers {
		if err := m.callStore.SaveTransfer(ctx, t); err != nil {
			return err
		}
	}
	for len(lc.keptRows) > 0 {
		if err := m.writeRow(ctx, lc.keptRows[0]); err != nil {
			var coded *Error
			if !errors.As(err, &coded) {
				return err
			}
			// One the store refuses is not tried again; the rest go on.
			m.logger.ErrorContext(ctx, "the store refused a kept conversation row; given up", "call_id", lc.call.ID, "err", err)
		}
		lc.keptRows = lc.keptRows[1:]
	}
	err := m.callStore.UpdateCall(ctx, lc.call, lc.kept...)
	if !HasCode(err, CodeConflict) {
		return err
	}
	dropped, rerr := m.dropStoredLocked(ctx, lc)
	switch {
	case rerr != nil:
		// Not known to be a refusal yet: tried again, not given up. Not
		// wrapped, so that a coded error of the read does not read as one.
		return fmt.Errorf("%v; reading the kept webhooks back: %v", err, rerr)
	case dropped:
		return m.callStore.UpdateCall(ctx, lc.call, lc.kept...)
	}
	return err
}

// deliveryReader is a store that reads one webhook delivery back.
type deliveryReader interface {
	GetDelivery(ctx context.Context, id string) (WebhookDelivery, error)
}

// dropStoredLocked drops from lc's kept webhook rows those the store has
// already, and reports whether it dropped any, or why it could not tell;
// lc.mu is held. A write whose answer was lost (a connection cut as
// PostgreSQL committed) may have stored them, and the next catch-up then
// fails on their ids: given up, it lost the rows kept after them.
func (m *Calls) dropStoredLocked(ctx context.Context, lc *liveCall) (bool, error) {
	r, ok := m.callStore.(deliveryReader)
	if !ok {
		return false, nil
	}
	left := lc.kept[:0:0]
	for _, d := range lc.kept {
		_, err := r.GetDelivery(ctx, d.ID)
		switch {
		case err == nil:
		case HasCode(err, CodeNotFound):
			left = append(left, d)
		default:
			return false, err
		}
	}
	if len(left) == len(lc.kept) {
		return false, nil
	}
	m.logger.WarnContext(ctx, "the store had taken some of the call's kept webhooks already; the rest are written", "call_id", lc.call.ID,
		"stored", len(lc.kept)-len(left), "left", len(left))
	lc.kept = left
	return true, nil
}

// catchUpCalls tries the calls behind the store again, waiting
// catchUpWait and then twice as long each round that leaves one behind,
// until none is left or the manager shuts down.
func (m *Calls) catchUpCalls() {
	wait := catchUpWait
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-m.bg.Done():
			m.behind.mu.Lock()
			left := len(m.behind.calls)
			m.behind.running = false
			m.behind.mu.Unlock()
			switch {
			case left > 0 && m.cfg.KeptDir != "":
				m.logger.Error("shutdown: the store did not take the last state of calls; the next start writes it from their files",
					"calls", left, "dir", m.cfg.KeptDir)
			case left > 0:
				m.logger.Error("shutdown: the store did not take the last state of calls; the next start's recovery ends those still live in it",
					"calls", left)
			}
			return
		case <-timer.C:
		}
		for _, lc := range m.behindNow() {
			lc.mu.Lock()
			ctx, cancel := m.storeContext(m.bg)
			err := m.catchUpLocked(ctx, lc)
			cancel()
			lc.mu.Unlock()
			if err != nil {
				// Still down: the others would wait out their deadlines
				// too, one after another, against a store that does not
				// answer.
				break
			}
		}
		m.behind.mu.Lock()
		if len(m.behind.calls) == 0 {
			m.behind.running = false
			m.behind.mu.Unlock()
			return
		}
		m.behind.mu.Unlock()
		wait = min(2*wait, catchUpMax)
		timer.Reset(wait)
	}
}

// behindNow lists the calls behind the store.
func (m *Calls) behindNow() []*liveCall {
	m.behind.mu.Lock()
	defer m.behind.mu.Unlock()
	out := make([]*liveCall, 0, len(m.behind.calls))
	for _, lc := range m.behind.calls {
		out = append(out, lc)
	}
	return out
}

// behindCall returns the call behind the store with that id, or nil.
func (m *Calls) behindCall(id string) *liveCall {
	m.behind.mu.Lock()
	defer m.behind.mu.Unlock()
	return m.behind.calls[id]
}

// BehindStore is the number of calls whose last state the store has not
// taken yet (store_behind.go).
func (m *Calls) BehindStore() int {
	m.behind.mu.Lock()
	defer m.behind.mu.Unlock()
	return len(m.behind.calls)
}
