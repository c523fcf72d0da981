package tools

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/voicedock/voicedock/core"
)

// TestTrunkOutput is a trunk and what probing it found.
type TestTrunkOutput struct {
	Trunk  core.Trunk       `json:"trunk" jsonschema:"required"`
	Health core.TrunkHealth `json:"health" jsonschema:"required"`
	Allow  string           `json:"allow,omitempty" jsonschema:"description=The trunk's Allow header: the SIP methods it accepts"`
}

// TestDestinationInput is check_destination's input, and whether to dial.
type TestDestinationInput struct {
	CheckDestinationInput
	Dial          bool   `json:"dial,omitempty" jsonschema:"description=Also place a real test call through the trunk: it rings the destination and is hung up the moment it is answered (no caller is ever connected). Off by default"`
	PhoneNumberID string `json:"phone_number_id,omitempty" jsonschema:"description=With dial: the phone number whose transfer_trunk_id carries the test call (and whose number is the caller id). Default: the first number of assistant_id with a transfer trunk,maxLength=128"`
	// RingTimeoutSeconds bounds the ringing.
	RingTimeoutSeconds int `json:"ring_timeout_seconds,omitempty" jsonschema:"description=With dial: seconds to let it ring before giving up (default 20),minimum=1,maximum=60"`
}

// TestDestinationOutput is the policy's verdict, and the test call's
// outcome when one was placed.
type TestDestinationOutput struct {
	CheckDestinationOutput
	Call *core.TestCallResult `json:"call,omitempty" jsonschema:"description=The test call (with dial: true and an allowed destination)"`
}

// TransferStatsInput selects the calls whose transfers are counted.
type TransferStatsInput struct {
	AssistantID   string `json:"assistant_id,omitempty" jsonschema:"description=Only calls answered by this assistant,maxLength=128"`
	PhoneNumberID string `json:"phone_number_id,omitempty" jsonschema:"description=Only calls on this phone number,maxLength=128"`
	Destination   string `json:"destination,omitempty" jsonschema:"description=Only transfers to this destination (E.164 or sip: URI); calls then counts the calls with an attempted transfer to it,maxLength=256"`
	Since         string `json:"since,omitempty" jsonschema:"description=Start of the period (RFC 3339\\, inclusive\\, by the call's creation); default 30 days before until,format=date-time"`
	Until         string `json:"until,omitempty" jsonschema:"description=End of the period (RFC 3339\\, exclusive); default now,format=date-time"`
	GroupBy       string `json:"group_by,omitempty" jsonschema:"description=Also break the figures down by assistant\\, destination or UTC day,enum=assistant,enum=destination,enum=day"`
}

func checkTools(d Deps) []Tool {
	return []Tool{
		define("test_trunk", "Test SIP trunk",
			"Probe a SIP trunk now with SIP OPTIONS (answering a digest challenge with the trunk's credentials): whether it is reachable, "+
				"the status it answered, the round-trip time, its User-Agent and Allow header (allows_refer: can it take REFER transfers?). "+
				"The result is also kept as the trunk's health, which get_trunk shows and background probing refreshes.",
			Hints{ReadOnly: true, OpenWorld: true, Waits: true},
			func(ctx context.Context, in GetInput) (TestTrunkOutput, string, error) {
				if err := requireID("id", in.ID); err != nil {
					return TestTrunkOutput{}, "", err
				}
				t, h, err := d.Trunks.Probe(ctx, in.ID)
				if err != nil {
					return TestTrunkOutput{}, "", err
				}
				t.Health = &h
				summary := fmt.Sprintf("Trunk %q is unreachable: %s.", t.Name, h.Error)
				if h.Reachable {
					summary = fmt.Sprintf("Trunk %q answered %d in %.1f ms; REFER allowed: %t.", t.Name, h.Status, h.RTTMS, h.AllowsREFER)
					if h.Error != "" {
						summary += " " + h.Error + "."
					}
				}
				return TestTrunkOutput{Trunk: t, Health: h, Allow: h.Allow}, summary, nil
			}),
		define("test_destination", "Test transfer destination",
			"Check a transfer destination as check_destination does (the policy's verdict and the route), and with dial: true place a real test call "+
				"to it through the trunk of phone_number_id (or of the assistant's number): it rings, is hung up the moment it is answered, and never "+
				"connects a caller. Reports the outcome (answered, busy, no_answer, rejected, unreachable), the SIP status and the ringing time. "+
				"A destination the policy refuses is never dialled.",
			Hints{OpenWorld: true, Waits: true},
			func(ctx context.Context, in TestDestinationInput) (TestDestinationOutput, string, error) {
				for _, p := range []struct{ name, v string }{{"assistant_id", in.AssistantID}, {"phone_number_id", in.PhoneNumberID}} {
					if p.v != "" {
						if err := requireID(p.name, p.v); err != nil {
							return TestDestinationOutput{}, "", err
						}
					}
				}
				if in.RingTimeoutSeconds < 0 || in.RingTimeoutSeconds > int(core.MaxTestRingTimeout/time.Second) {
					return TestDestinationOutput{}, "", core.FieldError(core.CodeInvalidRequest, "ring_timeout_seconds", "ring_timeout_seconds must be between 1 and 60")
				}
				c, err := d.Config.CheckDestination(ctx, in.Destination, in.AssistantID)
				if err != nil {
					return TestDestinationOutput{}, "", err
				}
				out := TestDestinationOutput{CheckDestinationOutput: checkOutput(c)}
				verdict := fmt.Sprintf("Allowed: %s (rule %s).", c.Reason, c.Rule)
				if !c.Allowed {
					return out, fmt.Sprintf("Refused: %s (rule %s); not dialled.", c.Reason, c.Rule), nil
				}
				if !in.Dial {
					return out, verdict, nil
				}
				// The one step there is to tell: a task's statusMessage, or a
				// progress notification when the client sent a token.
				progressFrom(ctx)(1, 2, fmt.Sprintf("test call to %s: dialling", c.Destination))
				res, err := d.Calls.TestCall(ctx, core.TestCallRequest{
					Destination: c.Destination, AssistantID: in.AssistantID, NumberID: in.PhoneNumberID,
					RingTimeout:       time.Duration(in.RingTimeoutSeconds) * time.Second,
					CancelWithContext: runsAsTask(ctx),
				})
				if err != nil {
					return TestDestinationOutput{}, "", err
				}
				out.Call = &res
				return out, fmt.Sprintf("%s Test call: %s (SIP %d) after %.0f ms.", verdict, strings.ReplaceAll(res.Outcome, "_", " "), res.SIPStatus, res.RingingMS), nil
			}),
		define("transfer_stats", "Transfer statistics",
			"Transfer figures for a period of calls (default the last 30 days): calls, transfers attempted, completed and failed, the transfer rate "+
				"(attempted per call), the success rate, median and p95 time to connect, and failures by SIP status; filtered by assistant, phone number "+
				"or destination, and grouped by assistant, destination or UTC day.",
			Hints{ReadOnly: true, Idempotent: true},
			func(ctx context.Context, in TransferStatsInput) (core.StatsReport, string, error) {
				q := core.StatsQuery{AssistantID: in.AssistantID, PhoneNumberID: in.PhoneNumberID, Destination: in.Destination, GroupBy: in.GroupBy}
				for _, p := range []struct {
					name, v string
					to      *time.Time
				}{{"since", in.Since, &q.Since}, {"until", in.Until, &q.Until}} {
					if p.v == "" {
						continue
					}
					ts, err := time.Parse(time.RFC3339Nano, p.v)
					if err != nil {
						return core.StatsReport{}, "", core.FieldError(core.CodeInvalidRequest, p.name, "%s must be an RFC 3339 time such as 2026-11-24T00:00:00Z", p.name)
					}
					*p.to = ts
				}
				r, err := d.Stats.TransferStats(ctx, q)
				if err != nil {
					return core.StatsReport{}, "", err
				}
				t := r.Totals
				return r, fmt.Sprintf("%d calls, %d transfers attempted, %d completed (%.0f%%), %d failed, from %s to %s.",
					t.Calls, t.TransfersAttempted, t.TransfersCompleted, 100*t.SuccessRate, t.TransfersFailed,
					r.Since.Format(time.RFC3339), r.Until.Format(time.RFC3339)), nil
			}),
	}
}

func checkOutput(c core.DestinationCheck) CheckDestinationOutput {
	return CheckDestinationOutput{
		Allowed: c.Allowed, Rule: c.Rule, Reason: c.Reason,
		Destination: c.Destination, Type: c.Type, AssistantID: c.AssistantID,
		E164: c.E164, Region: c.Region, CountryCode: c.Country, NumberType: c.NumberType,
		SIPHost: c.SIPHost, Route: c.Route, RouteNote: c.RouteNote, Transfer: c.Transfer,
		Consult: c.Consult,
	}
}
