package core

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// TrunkHealth is what the last OPTIONS probe of a trunk found.
type TrunkHealth struct {
	// Reachable is true when the trunk answered at all (any final
	// response, even 403 or 405: something SIP is listening there).
	Reachable bool `json:"reachable" jsonschema:"required,description=The trunk answered the OPTIONS probe with a final response"`
	// Status is the final SIP status of the probe (after a digest
	// challenge was answered); 0 when nothing answered.
	Status int `json:"status" jsonschema:"required,description=Final SIP status of the OPTIONS probe; 0 when nothing answered"`
	// RTTMS is the round trip of the (last) OPTIONS transaction.
	RTTMS float64 `json:"rtt_ms" jsonschema:"required,description=Round-trip time of the OPTIONS transaction in milliseconds"`
	// AllowsREFER reports whether the Allow header lists REFER: the
	// trunk can take blind transfers in a call's dialog.
	AllowsREFER bool `json:"allows_refer" jsonschema:"required,description=The trunk's Allow header lists REFER"`
	// UserAgent is the response's User-Agent, else its Server header.
	UserAgent string    `json:"user_agent" jsonschema:"required,description=The trunk's User-Agent or Server header"`
	CheckedAt time.Time `json:"checked_at" jsonschema:"required,description=When the probe ran (UTC)"`
	// Error says why the trunk is not reachable or the probe failed.
	Error string `json:"error" jsonschema:"required,description=Why the probe failed; empty when the trunk answered 2xx"`
	// Allow is the response's Allow header as sent; test_trunk shows it,
	// the trunk's health summary does not.
	Allow string `json:"-"`
	// TrunkUpdatedAt is the probed trunk's UpdatedAt: a probe of settings
	// changed since says nothing about the new ones.
	TrunkUpdatedAt time.Time `json:"-"`
}

// TrunkHealthSource reports the last probe result of trunks; TrunkMonitor
// is one.
type TrunkHealthSource interface {
	Health(trunkID string) (TrunkHealth, bool)
	// Forget drops a deleted trunk's result.
	Forget(trunkID string)
}

// TrunkMonitor probes trunks with SIP OPTIONS, on demand and every
// interval, and keeps the last result of each in memory: health is an
// observation that a restart re-makes within one interval, not a record.
type TrunkMonitor struct {
	store   Store
	sig     Signaling
	logger  *slog.Logger
	timeout time.Duration

	mu     sync.RWMutex
	health map[string]TrunkHealth
}

// DefaultProbeTimeout bounds one OPTIONS probe. A UDP trunk that does not
// answer would otherwise hold it for Timer F (32 s).
const DefaultProbeTimeout = 5 * time.Second

// NewTrunkMonitor returns a monitor probing through sig; timeout bounds
// each probe (DefaultProbeTimeout when 0).
func NewTrunkMonitor(store Store, sig Signaling, timeout time.Duration, logger *slog.Logger) *TrunkMonitor {
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &TrunkMonitor{store: store, sig: sig, logger: logger, timeout: timeout, health: map[string]TrunkHealth{}}
}

// Health returns the trunk's last probe result.
func (m *TrunkMonitor) Health(trunkID string) (TrunkHealth, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	h, ok := m.health[trunkID]
	return h, ok
}

// Forget drops the trunk's last result (it was deleted).
func (m *TrunkMonitor) Forget(trunkID string) {
	m.mu.Lock()
	delete(m.health, trunkID)
	m.mu.Unlock()
}

// Snapshot returns the last result of every trunk probed, by trunk id.
func (m *TrunkMonitor) Snapshot() map[string]TrunkHealth {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string]TrunkHealth, len(m.health))
	for id, h := range m.health {
		out[id] = h
	}
	return out
}

// Probe sends OPTIONS to the trunk now and records the result. An
// unreachable trunk is a result, not an error; errors are for a trunk
// that does not exist or a probe that could not be sent at all.
func (m *TrunkMonitor) Probe(ctx context.Context, trunkID string) (Trunk, TrunkHealth, error) {
	t, err := m.store.GetTrunk(ctx, trunkID)
	if err != nil {
		return Trunk{}, TrunkHealth{}, err
	}
	pctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	h, err := m.sig.Options(pctx, t)
	if err != nil {
		if ctx.Err() != nil { // the caller gave up, not the trunk
			return Trunk{}, TrunkHealth{}, ctx.Err()
		}
		e := AsError(err)
		if e.Code != CodeUnavailable && e.Code != CodeTransferFailed {
			return Trunk{}, TrunkHealth{}, err
		}
		h.Reachable = false
		h.Error = e.Message
		if h.CheckedAt.IsZero() {
			h.CheckedAt = time.Now().UTC()
		}
	}
	h.TrunkUpdatedAt = t.UpdatedAt
	m.mu.Lock()
	m.health[t.ID] = h
	m.mu.Unlock()
	return t.Redacted(), h, nil
}

// Run probes every trunk each interval until ctx ends; interval <= 0
// turns background probing off. Trunks deleted since are forgotten.
func (m *TrunkMonitor) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		m.probeAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (m *TrunkMonitor) probeAll(ctx context.Context) {
	seen := map[string]bool{}
	var ids []string
	err := eachPage(ctx, m.store.ListTrunks, func(t Trunk) { ids = append(ids, t.ID) })
	if err != nil {
		if ctx.Err() == nil {
			m.logger.Warn("trunk probe: list trunks", "err", err)
		}
		return
	}
	// One at a time: a probe is one small transaction, and trunks are few.
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		seen[id] = true
		_, h, err := m.Probe(ctx, id)
		switch {
		case errors.Is(err, context.Canceled):
			return
		case HasCode(err, CodeNotFound): // deleted meanwhile
		case err != nil:
			m.logger.Warn("trunk probe failed", "trunk_id", id, "err", err)
		case !h.Reachable:
			m.logger.Warn("trunk unreachable", "trunk_id", id, "error", h.Error)
		default:
			m.logger.Debug("trunk probed", "trunk_id", id, "status", h.Status, "rtt_ms", h.RTTMS)
		}
	}
	m.mu.Lock()
	for id := range m.health {
		if !seen[id] {
			delete(m.health, id)
		}
	}
	m.mu.Unlock()
}
