package sqlrows

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/voicedock/voicedock/core"
)

// TimeLayout is how a stored time is written as text: ISO 8601, UTC,
// milliseconds. Text in one layout sorts as the times do.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime writes t in TimeLayout.
func FormatTime(t time.Time) string {
	return t.UTC().Truncate(time.Millisecond).Format(TimeLayout)
}

// ParseTime reads a time written by FormatTime.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(TimeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad timestamp %q: %w", s, err)
	}
	return t.UTC(), nil
}

// stepRecord is a core.TransferStep as the steps column holds it, its
// time in TimeLayout.
type stepRecord struct {
	Status    string `json:"status"`
	Attempt   int    `json:"attempt,omitempty"`
	SIPStatus int    `json:"sip_status,omitempty"`
	Reason    string `json:"reason,omitempty"`
	At        string `json:"at"`
}

// EncodeSteps returns the JSON array the steps column holds; no steps is [].
func EncodeSteps(steps []core.TransferStep) (string, error) {
	recs := make([]stepRecord, len(steps))
	for i, st := range steps {
		recs[i] = stepRecord{Status: st.Status, Attempt: st.Attempt, SIPStatus: st.SIPStatus, Reason: st.Reason, At: FormatTime(st.At)}
	}
	b, err := json.Marshal(recs)
	if err != nil {
		return "", fmt.Errorf("encode steps: %w", err)
	}
	return string(b), nil
}

// DecodeSteps reverses EncodeSteps. The result is never nil, so that a
// transfer without steps shows "steps": [] as the API requires.
func DecodeSteps(doc []byte) ([]core.TransferStep, error) {
	var recs []stepRecord
	if err := json.Unmarshal(doc, &recs); err != nil {
		return nil, fmt.Errorf("decode steps: %w", err)
	}
	steps := make([]core.TransferStep, len(recs))
	for i, r := range recs {
		at, err := ParseTime(r.At)
		if err != nil {
			return nil, fmt.Errorf("decode steps: step %d: %w", i, err)
		}
		steps[i] = core.TransferStep{Status: r.Status, Attempt: r.Attempt, SIPStatus: r.SIPStatus, Reason: r.Reason, At: at}
	}
	return steps, nil
}

// EncodeAttempts returns the JSON array the attempts column holds, or NULL
// for none. Their times are core's own (RFC 3339, UTC, milliseconds).
func EncodeAttempts(as []core.TransferAttempt) (any, error) {
	if len(as) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(as)
	if err != nil {
		return nil, fmt.Errorf("encode attempts: %w", err)
	}
	return string(b), nil
}

// ConnectMS is the statistics' time to connect: whole milliseconds from
// the request to the completion of a completed transfer; NULL otherwise.
func ConnectMS(t core.Transfer) any {
	if t.Status != core.TransferCompleted || t.EndedAt == nil {
		return nil
	}
	return float64(t.EndedAt.Truncate(time.Millisecond).Sub(t.CreatedAt.Truncate(time.Millisecond)).Milliseconds())
}
