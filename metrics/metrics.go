package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/voicedock/voicedock/core"
)

const namespace = "voicedock"

// Sources are what the metrics read when scraped.
type Sources struct {
	// LiveCalls returns the calls held now.
	LiveCalls func() int
	// TransfersInFlight returns the transfers started and not yet final,
	// to set beside their cap (VOICEDOCK_MAX_TRANSFERS_IN_FLIGHT).
	TransfersInFlight func() int
	// BehindStore returns the calls whose last state the store has not
	// taken yet (kept, and written when it does).
	BehindStore func() int
	// WebhookQueue returns the deliveries pending in the outbox.
	WebhookQueue func(ctx context.Context) (int, error)
	// TrunkHealth returns the last probe of each trunk, by trunk id.
	TrunkHealth func() map[string]core.TrunkHealth
}

// Metrics is the registry and the instruments in it.
type Metrics struct {
	reg *prometheus.Registry

	callsEnded       *prometheus.CounterVec
	transfers        *prometheus.CounterVec
	transferDuration *prometheus.HistogramVec
	referResponse    prometheus.Histogram
	notifyDelay      *prometheus.HistogramVec
	webhooks         *prometheus.CounterVec
	mcpRequests      *prometheus.CounterVec
	mcpDuration      *prometheus.HistogramVec
	sipMessages      *prometheus.CounterVec
}

// New builds the registry: the Go runtime and process collectors, the
// instruments, and gauges read from src at scrape time.
func New(src Sources) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.callsEnded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "calls_ended_total",
		Help: "Calls that reached a final status, by status and end reason.",
	}, []string{"status", "end_reason"})
	m.transfers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "transfers_total",
		Help: "Transfers that ended, by outcome (completed, failed, canceled) and final SIP status (none when there was none).",
	}, []string{"outcome", "sip_status"})
	m.transferDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "transfer_duration_seconds",
		Help:    "Time from a transfer's request to its end, by outcome.",
		Buckets: []float64{0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 45, 60, 120},
	}, []string{"outcome"})
	m.referResponse = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "refer_first_response_seconds",
		Help:    "Time from a transfer's request to the far side's first answer: the REFER's response, or a NOTIFY that came before it.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32},
	})
	m.notifyDelay = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "transfer_step_seconds",
		Help:    "Time from a transfer's request to each step the REFER's answer and NOTIFYs moved it to (accepted, trying, ringing, completed, failed).",
		Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 60},
	}, []string{"step"})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "webhook_attempts_total",
		Help: "Webhook delivery attempts, by outcome: delivered, retry (failed, to be tried again) or dead (given up).",
	}, []string{"outcome"})
	m.mcpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "mcp_tool_calls_total",
		Help: "MCP tool calls, by tool and outcome (ok, or the error code).",
	}, []string{"tool", "outcome"})
	m.mcpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "mcp_tool_call_duration_seconds",
		Help:    "MCP tool call latency, by tool.",
		Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"tool"})
	m.sipMessages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "sip_messages_total",
		Help: "SIP messages received (in) and sent (out), by method (a response's CSeq method) and kind (request or response).",
	}, []string{"direction", "method", "kind"})

	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.callsEnded, m.transfers, m.transferDuration, m.referResponse, m.notifyDelay,
		m.webhooks, m.mcpRequests, m.mcpDuration, m.sipMessages,
	)
	if src.LiveCalls != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Name: "calls_live", Help: "Calls held now (ringing, dialing or in progress).",
		}, func() float64 { return float64(src.LiveCalls()) }))
	}
	if src.TransfersInFlight != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Name: "transfers_in_flight", Help: "Transfers started and not yet at a final status (capped by VOICEDOCK_MAX_TRANSFERS_IN_FLIGHT).",
		}, func() float64 { return float64(src.TransfersInFlight()) }))
	}
	if src.BehindStore != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Name: "calls_behind_store", Help: "Calls whose last state the store has not taken yet: kept in memory and written when it does.",
		}, func() float64 { return float64(src.BehindStore()) }))
	}
	if src.WebhookQueue != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Name: "webhook_queue_depth", Help: "Webhook deliveries pending in the outbox (-1 when the store could not be read).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := src.WebhookQueue(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
	if src.TrunkHealth != nil {
		m.reg.MustRegister(newTrunkCollector(src.TrunkHealth))
	}
	return m
}

// Registry returns the registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format (or
// OpenMetrics when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: m.reg})
}

// Start subscribes to the bus now (so no event published after Start
// returns is missed) and counts its events until ctx ends.
func (m *Metrics) Start(ctx context.Context, bus *core.Bus) {
	counted := func(e core.Event) bool {
		return e.Type == core.EventCallStatus || e.Type == core.EventTransferStep
	}
	sub := bus.Subscribe(counted)
	go func() {
		defer func() { sub.Close() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-sub.C:
				if !ok && sub.Lagged() {
					// Cut off the bus for falling behind: the events
					// missed go uncounted; counting goes on.
					sub = bus.Subscribe(counted)
					continue
				}
				if !ok {
					return
				}
				m.observe(e)
			}
		}
	}()
}

func (m *Metrics) observe(e core.Event) {
	switch e.Type {
	case core.EventCallStatus:
		// A call ends once: the event that gives it an end time.
		if e.Call.EndedAt != nil && !e.Call.Live() {
			m.callsEnded.WithLabelValues(callStatus(e.Call.Status), endReason(e.Call.EndReason)).Inc()
		}
	case core.EventTransferStep:
		if e.Transfer != nil {
			m.transferStep(*e.Transfer)
		}
	}
}

// transferStep times the step the transfer just took, from its recorded
// steps: the last one is new.
func (m *Metrics) transferStep(t core.Transfer) {
	if len(t.Steps) < 2 || t.Steps[0].Status != core.TransferRequested {
		return
	}
	requested, last := t.Steps[0].At, t.Steps[len(t.Steps)-1]
	// A step with a SIP status came from the far side (the REFER's
	// response or a NOTIFY); the others (a timeout, a hang-up) did not.
	if last.SIPStatus > 0 {
		if len(t.Steps) == 2 {
			m.referResponse.Observe(last.At.Sub(requested).Seconds())
		}
		m.notifyDelay.WithLabelValues(transferStatus(last.Status)).Observe(last.At.Sub(requested).Seconds())
	}
	if !t.Final() || last.Status != t.Status {
		return
	}
	m.transfers.WithLabelValues(transferStatus(t.Status), sipStatus(t.SIPStatus)).Inc()
	m.transferDuration.WithLabelValues(transferStatus(t.Status)).Observe(last.At.Sub(requested).Seconds())
}

func transferStatus(s string) string {
	switch s {
	case core.TransferRequested, core.TransferAccepted, core.TransferTrying, core.TransferRinging,
		core.TransferCompleted, core.TransferFailed, core.TransferCanceled:
		return s
	}
	return "other"
}

// ToolCall records one MCP tool call: outcome is "ok" or the error code.
func (m *Metrics) ToolCall(tool, outcome string, d time.Duration) {
	m.mcpRequests.WithLabelValues(tool, outcome).Inc()
	m.mcpDuration.WithLabelValues(tool).Observe(d.Seconds())
}

// SIPMessage records one SIP message; see sip.Config.OnMessage.
func (m *Metrics) SIPMessage(in bool, method string, response bool) {
	dir, kind := "out", "request"
	if in {
		dir = "in"
	}
	if response {
		kind = "response"
	}
	m.sipMessages.WithLabelValues(dir, sipMethod(method), kind).Inc()
}

// WebhookAttempt records a delivery attempt by the delivery's new status.
func (m *Metrics) WebhookAttempt(status string) {
	outcome := "retry"
	switch status {
	case core.DeliveryDelivered:
		outcome = "delivered"
	case core.DeliveryDead:
		outcome = "dead"
	}
	m.webhooks.WithLabelValues(outcome).Inc()
}

// sipMethod keeps the method label to the methods of RFC 3261 and its
// extensions; anything else a peer sends is "other".
func sipMethod(m string) string {
	switch m {
	case "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY",
		"PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE":
		return m
	}
	return "other"
}

// sipStatus is a status code label: a valid code, else "none".
func sipStatus(code int) string {
	if code < 100 || code > 699 {
		return "none"
	}
	return strconv.Itoa(code)
}

func callStatus(s string) string {
	switch s {
	case core.CallEnded, core.CallFailed, core.CallRejected, core.CallTransferred:
		return s
	}
	return "other"
}

func endReason(r string) string {
	switch r {
	case core.EndCallerHangup, core.EndAssistantHangup, core.EndTransferred, core.EndCanceled,
		core.EndShutdown, core.EndServerRestart, core.EndFailed, core.EndRejected, core.EndNoAnswer:
		return r
	case "":
		return "none"
	}
	return "other"
}

// trunkCollector reports the trunks' last probes at scrape time, so a
// deleted trunk's series go with it.
type trunkCollector struct {
	health                       func() map[string]core.TrunkHealth
	up, rtt, status, checkedTime *prometheus.Desc
}

func newTrunkCollector(health func() map[string]core.TrunkHealth) trunkCollector {
	label := []string{"trunk_id"}
	return trunkCollector{
		health: health,
		up: prometheus.NewDesc(namespace+"_trunk_up",
			"1 when the trunk answered its last SIP OPTIONS probe with 2xx, else 0.", label, nil),
		rtt: prometheus.NewDesc(namespace+"_trunk_probe_rtt_seconds",
			"Round-trip time of the trunk's last OPTIONS probe.", label, nil),
		status: prometheus.NewDesc(namespace+"_trunk_probe_status",
			"SIP status of the trunk's last OPTIONS probe (0: no answer).", label, nil),
		checkedTime: prometheus.NewDesc(namespace+"_trunk_probe_timestamp_seconds",
			"When the trunk was last probed (Unix time).", label, nil),
	}
}

func (c trunkCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.rtt
	ch <- c.status
	ch <- c.checkedTime
}

func (c trunkCollector) Collect(ch chan<- prometheus.Metric) {
	for id, h := range c.health() {
		up := 0.0
		if h.Reachable && h.Status >= 200 && h.Status < 300 {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, id)
		ch <- prometheus.MustNewConstMetric(c.rtt, prometheus.GaugeValue, h.RTTMS/1000, id)
		ch <- prometheus.MustNewConstMetric(c.status, prometheus.GaugeValue, float64(h.Status), id)
		ch <- prometheus.MustNewConstMetric(c.checkedTime, prometheus.GaugeValue, float64(h.CheckedAt.UnixNano())/1e9, id)
	}
}
