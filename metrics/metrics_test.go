package metrics

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/voicedock/voicedock/core"
)

func TestTransferEvents(t *testing.T) {
	m := New(Sources{})
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	steps := []core.TransferStep{{Status: core.TransferRequested, At: t0}}
	step := func(status string, sip int, after time.Duration) core.Transfer {
		steps = append(steps, core.TransferStep{Status: status, SIPStatus: sip, At: t0.Add(after)})
		tr := core.Transfer{Status: status, SIPStatus: sip, Steps: append([]core.TransferStep(nil), steps...)}
		return tr
	}
	for _, tr := range []core.Transfer{
		step(core.TransferAccepted, 202, 50*time.Millisecond),
		step(core.TransferRinging, 180, time.Second),
		step(core.TransferCompleted, 200, 3*time.Second),
	} {
		m.observe(core.Event{Type: core.EventTransferStep, Transfer: &tr})
	}
	if got := testutil.ToFloat64(m.transfers.WithLabelValues("completed", "200")); got != 1 {
		t.Errorf("transfers_total = %v", got)
	}
	if n := testutil.CollectAndCount(m.referResponse); n != 1 {
		t.Errorf("refer_first_response series = %d", n)
	}
	if n := testutil.CollectAndCount(m.transferDuration); n != 1 {
		t.Errorf("transfer_duration series = %d", n)
	}
	if n := testutil.CollectAndCount(m.notifyDelay); n != 3 {
		t.Errorf("transfer_step series = %d (accepted, ringing, completed)", n)
	}
	// A call ends once: the event that gives it an end time.
	now := time.Now()
	m.observe(core.Event{Type: core.EventCallStatus, Call: core.Call{Status: core.CallInProgress}})
	m.observe(core.Event{Type: core.EventCallStatus, Call: core.Call{Status: core.CallEnded, EndReason: "a weird reason", EndedAt: &now}})
	if got := testutil.ToFloat64(m.callsEnded.WithLabelValues("ended", "other")); got != 1 {
		t.Errorf("calls_ended_total{ended,other} = %v", got)
	}
}

func TestLabelsAreBounded(t *testing.T) {
	m := New(Sources{})
	m.SIPMessage(true, "XYZZY", false)
	m.SIPMessage(false, "REFER", false)
	tr := core.Transfer{Status: core.TransferFailed, SIPStatus: 9999, Steps: []core.TransferStep{{Status: core.TransferRequested}, {Status: core.TransferFailed}}}
	m.observe(core.Event{Type: core.EventTransferStep, Transfer: &tr})
	if got := testutil.ToFloat64(m.sipMessages.WithLabelValues("in", "other", "request")); got != 1 {
		t.Errorf("unknown method = %v", got)
	}
	if got := testutil.ToFloat64(m.transfers.WithLabelValues("failed", "none")); got != 1 {
		t.Errorf("out-of-range SIP status = %v", got)
	}
}

func TestScrape(t *testing.T) {
	health := map[string]core.TrunkHealth{"trunk-1": {Reachable: true, Status: 200, RTTMS: 12.5, CheckedAt: time.Unix(1700000000, 0)}}
	m := New(Sources{
		LiveCalls:         func() int { return 3 },
		TransfersInFlight: func() int { return 2 },
		BehindStore:       func() int { return 1 },
		WebhookQueue:      func(context.Context) (int, error) { return 7, nil },
		TrunkHealth:       func() map[string]core.TrunkHealth { return health },
	})
	bus := core.NewBus()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	m.Start(ctx, bus)
	m.ToolCall("get_call", "ok", 5*time.Millisecond)
	m.WebhookAttempt(core.DeliveryDead)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		"voicedock_calls_live 3", "voicedock_transfers_in_flight 2", "voicedock_calls_behind_store 1", "voicedock_webhook_queue_depth 7", `voicedock_trunk_up{trunk_id="trunk-1"} 1`,
		`voicedock_trunk_probe_rtt_seconds{trunk_id="trunk-1"} 0.0125`, `voicedock_mcp_tool_calls_total{outcome="ok",tool="get_call"} 1`,
		`voicedock_webhook_attempts_total{outcome="dead"} 1`, "go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}
