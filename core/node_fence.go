package core

import (
	"context"
	"time"
)

// A node whose lease lapsed while it still ran (cut off from the store, a
// long pause) may find that another node has taken its calls over and
// recorded them ended (node_lost), with their end-of-call-report. Such a
// call is over for the world: this node must not record anything of it
// again (a second end, a second report), and lets its SIP side go.
//
// It checks only when its lease may have lapsed, so that the normal write
// costs no extra read: before each write of a call while the lease is in
// doubt, and for every call it holds once a renewal succeeds again.

// lapsed reports whether the node's lease may have run out: its last
// successful renewal began more than a lease ago.
func (n *nodeState) lapsed() bool {
	return time.Since(time.Unix(0, n.renewed.Load())) > n.cfg.Lease
}

// lostLocked reports whether lc was taken over by another node, which
// this node learns only while its lease is in doubt; lc.mu is held.
func (m *Calls) lostLocked(ctx context.Context, lc *liveCall) bool {
	if lc.lost {
		return true
	}
	if m.node == nil || !m.node.lapsed() {
		return false
	}
	return m.takenLocked(ctx, lc)
}

// takenLocked asks the store whether another node holds lc now, and if
// so marks it lost and hangs its SIP side up (what follows records
// nothing); lc.mu is held.
func (m *Calls) takenLocked(ctx context.Context, lc *liveCall) bool {
	if lc.lost {
		return true
	}
	o, err := m.node.cfg.Store.CallOwner(ctx, lc.call.ID)
	if err != nil || o.Node == "" || o.Node == m.node.cfg.ID {
		return false
	}
	lc.lost = true
	id := lc.call.ID
	m.logger.ErrorContext(ctx, "call taken over by another node while this node's lease had lapsed: hanging it up, recording nothing more", "call_id", id, "node_id", o.Node)
	m.work.Go(func() {
		hctx, cancel := context.WithTimeout(m.bg, sipTransactionTimeout)
		defer cancel()
		if err := m.sig.Hangup(hctx, id); err != nil {
			m.logger.WarnContext(hctx, "hang up a call taken over", "call_id", id, "err", err)
		}
	})
	return true
}

// letTakenCallsGo checks every call this node holds, once a renewal has
// succeeded after its lease may have lapsed.
func (m *Calls) letTakenCallsGo(ctx context.Context) {
	m.mu.RLock()
	held := make([]*liveCall, 0, len(m.live))
	for _, lc := range m.live {
		held = append(held, lc)
	}
	m.mu.RUnlock()
	for _, lc := range held {
		lc.mu.Lock()
		m.takenLocked(ctx, lc)
		lc.mu.Unlock()
	}
}
