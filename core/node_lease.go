package core

import (
	"context"
	"time"
)

// runNode renews the node's lease and sweeps for the calls of lost nodes,
// every third of the lease, until ctx ends (Shutdown, after the node's
// own calls have ended: until then they stay its own).
func (m *Calls) runNode(ctx context.Context) {
	n := m.node.cfg
	every := n.Lease / 3
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		began := time.Now()
		if _, err := n.Store.RenewNode(ctx, n.Node, n.Lease); err != nil {
			if ctx.Err() != nil {
				return
			}
			// Past the lease, the other nodes may end this node's calls
			// as lost while it still holds them: say so loudly.
			if m.node.lapsed() {
				m.logger.ErrorContext(ctx, "node lease lapsed: other nodes may record this node's calls ended (node_lost)", "node_id", n.ID, "err", err)
			} else {
				m.logger.WarnContext(ctx, "node lease not renewed", "node_id", n.ID, "err", err)
			}
		} else {
			lapsed := m.node.lapsed()
			m.node.renewed.Store(began.UnixNano())
			if lapsed {
				m.letTakenCallsGo(ctx)
			}
		}
		m.sweepLostCalls(ctx)
	}
}

// sweepLostCalls ends the calls of nodes whose lease has run out: each is
// taken over first (NodeStore.TakeCall, conditional on the lost lease), so
// that of several nodes sweeping at once only one ends it, and then ended
// as any call ends, with its status-update and end-of-call-report. It
// returns how many calls it ended.
func (m *Calls) sweepLostCalls(ctx context.Context) int {
	n := m.node.cfg
	lost, err := n.Store.LostCalls(ctx, maxLostBatch)
	if err != nil {
		if ctx.Err() == nil {
			m.logger.WarnContext(ctx, "find the calls of lost nodes", "err", err)
		}
		return 0
	}
	ended := 0
	for _, o := range lost {
		if o.Node == n.ID || o.Node == "" {
			// Our own calls are ours while we run, whatever the lease
			// says; calls of no node are a restart's (RecoverAfterRestart).
			continue
		}
		took, err := n.Store.TakeCall(ctx, o.CallID, n.ID, o.Node)
		if err != nil {
			m.logger.WarnContext(ctx, "take over a lost call", "call_id", o.CallID, "lost_node", o.Node, "err", err)
			continue
		}
		if !took {
			continue // ended meanwhile, or another node took it first
		}
		if err := m.recoverCall(ctx, o.CallID, EndNodeLost); err != nil {
			// It is ours now, under our lease: the next sweep after our
			// own loss would find it; meanwhile say why it is still live.
			m.logger.ErrorContext(ctx, "end a lost node's call", "call_id", o.CallID, "lost_node", o.Node, "err", err)
			continue
		}
		ended++
	}
	return ended
}

// SweepLostCalls runs one sweep at once (the node's loop runs one every
// third of the lease): for tests and an operator's command.
func (m *Calls) SweepLostCalls(ctx context.Context) int {
	if m.node == nil {
		return 0
	}
	return m.sweepLostCalls(ctx)
}

// recoverNodeCalls is RecoverAfterRestart for one node of several: only
// the calls this node's previous run held (and those of no node, left by
// a single server before the cluster) are ended here; each is taken
// first, as a sweep takes a lost node's calls, so that a sweep racing
// this restart and this restart never both end one call.
func (m *Calls) recoverNodeCalls(ctx context.Context) (int, error) {
	me := m.node.cfg.ID
	ended := 0
	seen := map[string]bool{}
	for _, from := range []string{me, ""} {
		for {
			ids, err := m.node.cfg.Store.NodeCalls(ctx, from, MaxPageLimit)
			if err != nil {
				return ended, err
			}
			progress := false
			for _, id := range ids {
				if seen[id] {
					continue
				}
				seen[id] = true
				progress = true
				took, err := m.node.cfg.Store.TakeCall(ctx, id, me, from)
				if err != nil {
					return ended, err
				}
				if !took {
					continue // a sweep of another node ended it first
				}
				if err := m.recoverCall(ctx, id, EndServerRestart); err != nil {
					return ended, err
				}
				ended++
			}
			if !progress {
				break
			}
		}
	}
	return ended, nil
}
