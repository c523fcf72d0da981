package core

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Several nodes may share one store (PostgreSQL), each holding the SIP
// dialogs and media of the calls it answered or placed. The node holding
// a call owns it: the store records the owner on the call, and the node's
// lease, which it renews, says the owner is alive. Commands for a call
// that reach another node are carried out by the owner (the server
// forwards them, see Calls.Locate); the calls of a node whose lease has
// run out are ended by whichever node sweeps first (EndNodeLost).

// EndNodeLost ends a call whose node stopped renewing its lease (killed,
// cut off from the store): another node records it ended. Its open
// transfer is canceled for TransferNodeLostReason.
const EndNodeLost = "node_lost"

// TransferNodeLostReason is the reason a transfer under way gets when the
// node holding its call was lost.
const TransferNodeLostReason = "the node holding the call stopped during the transfer"

// Default lease timings: a node renews its lease every third of it, so
// two renewals may fail before the lease runs out.
const (
	DefaultNodeLease = 15 * time.Second
	// maxLostBatch bounds the lost calls one sweep takes on.
	maxLostBatch = 100
)

// NodeStore records the nodes that share the store and which one holds
// each live call. The lease is measured on the store's clock (the
// database server's, with PostgreSQL), so the nodes' clocks need not
// agree. A call's owner is written with the call (CallStore.CreateCall
// stores Call.Node) and changes only through TakeCall.
type NodeStore interface {
	// RenewNode records n as alive, reachable at n.URL, until ttl from
	// now: one write, whatever the number of calls n holds. It returns
	// when the lease ends.
	RenewNode(ctx context.Context, n Node, ttl time.Duration) (time.Time, error)
	// GetNode returns the node's record and the state of its lease, or
	// CodeNotFound for a node never recorded.
	GetNode(ctx context.Context, id string) (NodeLease, error)
	// CallOwner returns the node recorded as holding the call and the
	// state of its lease, or CodeNotFound for an unknown call.
	CallOwner(ctx context.Context, callID string) (CallOwner, error)
	// NodeCalls returns up to limit ids of the live calls held by node
	// ("": held by no node, as a single node records them).
	NodeCalls(ctx context.Context, node string, limit int) ([]string, error)
	// LostCalls returns up to limit live calls whose owner's lease has
	// run out (or who has none on record), with that owner.
	LostCalls(ctx context.Context, limit int) ([]CallOwner, error)
	// TakeCall makes node the owner of the live call id, if from still
	// holds it ("": no node) and, when from is another node, from's lease
	// has run out. It is one conditional write: of several nodes taking
	// the same call at once exactly one gets true; a call that has ended
	// or that another node took first gives false.
	TakeCall(ctx context.Context, callID, node, from string) (bool, error)
}

// Node is one voicedock process of several sharing a store.
type Node struct {
	// ID names the node; stable across its restarts, so that a restart
	// finds the calls its previous run held.
	ID string
	// URL is the node's MCP endpoint as the other nodes reach it.
	URL string
}

// NodeLease is a node's record: its address and its lease.
type NodeLease struct {
	Node
	LeaseUntil time.Time
	Expired    bool
}

// CallOwner is the node recorded as holding a call.
type CallOwner struct {
	CallID string
	// Node is the owner's id, "" when the call has none (one node).
	Node string
	// URL is where the owner's MCP endpoint is reached.
	URL string
	// LeaseUntil is when the owner's lease ends; Expired says it has.
	LeaseUntil time.Time
	Expired    bool
	// Live reports whether the call is still up.
	Live bool
}

// NodeConfig makes the call manager one node of several.
type NodeConfig struct {
	Node
	Store NodeStore
	// Lease is how long a renewal keeps the node's calls its own
	// (DefaultNodeLease when 0); the node renews every third of it, and
	// sweeps for lost calls as often.
	Lease time.Duration
}

// nodeState is the manager's part in a cluster; nil on a single node.
type nodeState struct {
	cfg NodeConfig
	// renewed is when the last successful renewal began (UnixNano).
	renewed atomic.Int64
}

// nodeID is the id recorded as the owner of the calls this manager
// creates: "" on a single node.
func (m *Calls) nodeID() string {
	if m.node == nil {
		return ""
	}
	return m.node.cfg.ID
}

// NodeID is this node's id, "" when the server runs alone.
func (m *Calls) NodeID() string { return m.nodeID() }

// CallPlace says where a call's dialog and media are held.
type CallPlace struct {
	// Local is true when this node holds the call, or when no other
	// node could (one node, a call not live): the command runs here and
	// the core answers as for any call.
	Local bool
	// Node and URL name the owner otherwise.
	Node, URL string
}

// Locate says which node must carry out a command on the call: this
// one, or the owner named in the store. A live call whose owner's lease
// has run out is CodeCallNotActive: its node is gone with its SIP dialog
// and media, and a sweep is about to record it ended.
func (m *Calls) Locate(ctx context.Context, callID string) (CallPlace, error) {
	if m.node == nil || strings.TrimSpace(callID) == "" || m.get(callID) != nil || m.legOwner(callID) != nil {
		return CallPlace{Local: true}, nil
	}
	o, err := m.node.cfg.Store.CallOwner(ctx, callID)
	switch {
	case HasCode(err, CodeNotFound):
		return CallPlace{Local: true}, nil
	case err != nil:
		return CallPlace{}, &Error{Code: CodeUnavailable, Message: "could not find the node holding call " + clip(callID), err: err}
	case !o.Live || o.Node == "" || o.Node == m.node.cfg.ID:
		return CallPlace{Local: true}, nil
	case o.Expired || o.URL == "":
		return CallPlace{}, FieldError(CodeCallNotActive, "call_id",
			"call %s was held by node %s, which stopped renewing its lease at %s: its SIP dialog and media are gone, and it is being recorded ended (node_lost)",
			callID, o.Node, o.LeaseUntil.UTC().Format(time.RFC3339))
	}
	return CallPlace{Node: o.Node, URL: o.URL}, nil
}

// JoinCluster makes the manager one node of several sharing the store:
// it records n's lease at once, then renews it and sweeps for the calls
// of lost nodes until Shutdown. Call it once, before RecoverAfterRestart
// (whose calls the fresh lease keeps from the other nodes' sweeps) and
// before calls arrive.
func (m *Calls) JoinCluster(ctx context.Context, n NodeConfig) error {
	if n.ID == "" || n.Store == nil {
		return fmt.Errorf("join cluster: a node needs an id and a store")
	}
	if n.Lease <= 0 {
		n.Lease = DefaultNodeLease
	}
	// Two processes under one id would each take the other's calls for
	// their own (and a restart of one would end the other's): an id whose
	// lease runs for another address is refused. The same address is
	// this node's previous run, restarted within its lease.
	switch prev, err := n.Store.GetNode(ctx, n.ID); {
	case err != nil && !HasCode(err, CodeNotFound):
		return fmt.Errorf("join cluster: read node %s: %w", n.ID, err)
	case err == nil && !prev.Expired && prev.URL != n.URL:
		return fmt.Errorf("join cluster: node id %s is in use by a live node at %s (its lease runs until %s): give each node its own VOICEDOCK_NODE_ID",
			n.ID, prev.URL, prev.LeaseUntil.UTC().Format(time.RFC3339))
	}
	began := time.Now()
	if _, err := n.Store.RenewNode(ctx, n.Node, n.Lease); err != nil {
		return fmt.Errorf("join cluster: record the lease of node %s: %w", n.ID, err)
	}
	m.node = &nodeState{cfg: n}
	m.node.renewed.Store(began.UnixNano())
	m.logger.InfoContext(ctx, "node joined", "node_id", n.ID, "url", n.URL, "lease", n.Lease)
	if !m.work.Go(func() { m.runNode(m.bg) }) {
		return fmt.Errorf("join cluster: the call manager has shut down")
	}
	return nil
}
