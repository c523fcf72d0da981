package core

import (
	"context"
	"strings"
	"time"
)

// Ways transfer statistics can be grouped.
const (
	GroupByAssistant   = "assistant"
	GroupByDestination = "destination"
	GroupByDay         = "day"
)

// DefaultStatsWindow is the period transfer_stats covers when since is
// not given; MaxStatsWindow the longest it accepts.
const (
	DefaultStatsWindow = 30 * 24 * time.Hour
	MaxStatsWindow     = 5 * 366 * 24 * time.Hour
)

// StatsQuery selects the calls whose transfers are counted: calls created
// in [Since, Until), of the assistant and number when set, and transfers
// to Destination when set.
type StatsQuery struct {
	AssistantID   string
	PhoneNumberID string
	Destination   string
	Since, Until  time.Time
	GroupBy       string
}

// Stats are the transfer figures of a set of calls.
type Stats struct {
	Calls              int `json:"calls" jsonschema:"required,description=Calls in the period (with a destination: the calls with an attempted transfer to it)"`
	TransfersAttempted int `json:"transfers_attempted" jsonschema:"required,description=Transfers that went out (a REFER was sent)"`
	TransfersCompleted int `json:"transfers_completed" jsonschema:"required"`
	TransfersFailed    int `json:"transfers_failed" jsonschema:"required,description=Attempted transfers that failed or were canceled"`
	// TransferRate is attempted transfers per call.
	TransferRate float64 `json:"transfer_rate" jsonschema:"required,description=Attempted transfers per call"`
	// SuccessRate is completed / attempted, 0 when none was attempted.
	SuccessRate float64 `json:"success_rate" jsonschema:"required,description=Completed / attempted; 0 when none was attempted"`
	// ConnectTimeP50MS and P95 are the time from the transfer request to
	// its completion, over completed transfers; nil when there is none.
	ConnectTimeP50MS *float64       `json:"connect_time_p50_ms,omitempty" jsonschema:"description=Median milliseconds from the transfer request to the completing NOTIFY; absent without completed transfers"`
	ConnectTimeP95MS *float64       `json:"connect_time_p95_ms,omitempty" jsonschema:"description=95th percentile of the same"`
	FailuresByStatus []FailureCount `json:"failures_by_status" jsonschema:"required,description=Failed transfers by final SIP status and reason\\, most frequent first"`
}

// FailureCount is how many transfers failed with one SIP status and
// reason.
type FailureCount struct {
	SIPStatus int    `json:"sip_status" jsonschema:"required,description=The final SIP status (0 when none was received: a timeout or a hang-up)"`
	Reason    string `json:"reason" jsonschema:"required"`
	Count     int    `json:"count" jsonschema:"required"`
}

// StatsGroup is the figures of one group.
type StatsGroup struct {
	Key string `json:"key" jsonschema:"required,description=The assistant id\\, the destination or the UTC day (2026-11-24)"`
	Stats
}

// StatsReport is the answer to a StatsQuery.
type StatsReport struct {
	Since   time.Time    `json:"since" jsonschema:"required"`
	Until   time.Time    `json:"until" jsonschema:"required"`
	GroupBy string       `json:"group_by,omitempty" jsonschema:"enum=assistant,enum=destination,enum=day"`
	Totals  Stats        `json:"totals" jsonschema:"required"`
	Groups  []StatsGroup `json:"groups" jsonschema:"required"`
}

// StatsStore computes transfer statistics where the calls are stored.
type StatsStore interface {
	// TransferStats answers q; q is already checked (Since < Until,
	// GroupBy one of the GroupBy constants or "").
	TransferStats(ctx context.Context, q StatsQuery) (StatsReport, error)
}

// Statistics answers questions about past calls and transfers.
type Statistics struct {
	store StatsStore
	now   func() time.Time
}

// NewStatistics returns statistics computed by store.
func NewStatistics(store StatsStore) *Statistics {
	return &Statistics{store: store, now: time.Now}
}

// TransferStats checks q, fills in its defaults (until now, since 30 days
// before until) and asks the store.
func (s *Statistics) TransferStats(ctx context.Context, q StatsQuery) (StatsReport, error) {
	switch q.GroupBy {
	case "", GroupByAssistant, GroupByDestination, GroupByDay:
	default:
		return StatsReport{}, FieldError(CodeInvalidRequest, "group_by", "group_by must be assistant, destination or day")
	}
	if q.Until.IsZero() {
		q.Until = s.now()
	}
	if q.Since.IsZero() {
		q.Since = q.Until.Add(-DefaultStatsWindow)
	}
	q.Since, q.Until = q.Since.UTC().Truncate(time.Millisecond), q.Until.UTC().Truncate(time.Millisecond)
	if !q.Since.Before(q.Until) {
		return StatsReport{}, FieldError(CodeInvalidRequest, "since", "since must be before until")
	}
	if q.Until.Sub(q.Since) > MaxStatsWindow {
		return StatsReport{}, FieldError(CodeInvalidRequest, "since", "the period may span at most 5 years")
	}
	if q.Destination != "" {
		dest, err := ParseTarget("destination", strings.TrimSpace(q.Destination))
		if err != nil {
			return StatsReport{}, err
		}
		q.Destination = dest.Target()
	}
	r, err := s.store.TransferStats(ctx, q)
	if err != nil {
		return StatsReport{}, Internal("computing transfer statistics", err)
	}
	r.Since, r.Until, r.GroupBy = q.Since, q.Until, q.GroupBy
	if r.Groups == nil {
		r.Groups = []StatsGroup{}
	}
	return r, nil
}

// Finish fills the rates and empty lists from the counts.
func (s *Stats) Finish() {
	if s.Calls > 0 {
		s.TransferRate = float64(s.TransfersAttempted) / float64(s.Calls)
	}
	if s.TransfersAttempted > 0 {
		s.SuccessRate = float64(s.TransfersCompleted) / float64(s.TransfersAttempted)
	}
	if s.FailuresByStatus == nil {
		s.FailuresByStatus = []FailureCount{}
	}
}
