package core

import (
	"context"
	"strings"
	"time"
)

// Test call outcomes.
const (
	TestCallAnswered    = "answered"
	TestCallBusy        = "busy"
	TestCallNoAnswer    = "no_answer"
	TestCallRejected    = "rejected"
	TestCallUnreachable = "unreachable"
)

// DefaultTestRingTimeout is how long a test call rings before it is
// cancelled; MaxTestRingTimeout the most a client may ask for.
const (
	DefaultTestRingTimeout = 20 * time.Second
	MaxTestRingTimeout     = 60 * time.Second
)

// TestCallRequest is a test call to a transfer destination.
type TestCallRequest struct {
	// Destination is an E.164 number or a SIP URI.
	Destination string
	// AssistantID, when set, applies that assistant's transfer rules and
	// picks the number (and so the trunk) the call goes out through when
	// NumberID is empty.
	AssistantID string
	// NumberID is the phone number whose transfer trunk carries the call
	// and whose number is the caller id.
	NumberID string
	// RingTimeout bounds the ringing (DefaultTestRingTimeout when 0).
	RingTimeout time.Duration
	// CancelWithContext stops the ringing (CANCEL) when ctx ends, as when
	// the client cancels the task running the test. Otherwise the test
	// call is carried out whatever happens to the request.
	CancelWithContext bool
}

// TestCallResult is how a test call went. It is not a call record: a test
// call is never stored, announced or connected to anyone.
type TestCallResult struct {
	Outcome    string  `json:"outcome" jsonschema:"required,enum=answered,enum=busy,enum=no_answer,enum=rejected,enum=unreachable,description=answered (and hung up at once)\\, busy (486/600)\\, no_answer (not answered within the ring timeout\\, 408/480/487)\\, rejected (another 4xx-6xx)\\, unreachable (the trunk did not answer)"`
	SIPStatus  int     `json:"sip_status,omitempty" jsonschema:"description=Final SIP status of the INVITE (200 when answered)"`
	Reason     string  `json:"reason" jsonschema:"required,description=What happened\\, in words"`
	RingingMS  float64 `json:"ringing_ms" jsonschema:"required,description=Milliseconds from the INVITE to its final response (the answer or the refusal)"`
	NumberID   string  `json:"number_id,omitempty" jsonschema:"description=The phone number the test call came from"`
	TrunkID    string  `json:"trunk_id,omitempty" jsonschema:"description=The trunk the test call went through"`
	RequestURI string  `json:"request_uri" jsonschema:"required,description=The Request-URI of the test INVITE"`
}

// TestCall places a real call to a transfer destination through a
// number's trunk to see that it rings and answers, and hangs up the moment
// it is answered: no caller is ever connected, no media is sent, and no
// call record is made. The transfer policy applies as to a transfer of the
// assistant's calls. A refusal by the far side is a result, not an error.
func (m *Calls) TestCall(ctx context.Context, req TestCallRequest) (TestCallResult, error) {
	dest, err := ParseTarget("destination", req.Destination)
	if err != nil {
		return TestCallResult{}, err
	}
	if req.RingTimeout == 0 {
		req.RingTimeout = DefaultTestRingTimeout
	}
	if req.RingTimeout < time.Second || req.RingTimeout > MaxTestRingTimeout {
		return TestCallResult{}, FieldError(CodeInvalidRequest, "ring_timeout_seconds", "ring_timeout_seconds must be between 1 and %d", int(MaxTestRingTimeout/time.Second))
	}
	var a *Assistant
	if req.AssistantID != "" {
		got, err := m.store.GetAssistant(ctx, req.AssistantID)
		if HasCode(err, CodeNotFound) {
			return TestCallResult{}, FieldError(CodeNotFound, "assistant_id", "assistant %q not found", clip(req.AssistantID))
		}
		if err != nil {
			return TestCallResult{}, err
		}
		a = &got
	}
	v, err := m.transferPolicy().Require(ctx, m.store, "destination", dest, a, "test_call", true)
	if err != nil {
		return TestCallResult{}, err
	}
	number, trunk, err := m.testRoute(ctx, req, dest)
	if err != nil {
		return TestCallResult{}, err
	}
	d := OutboundDial{From: contactFrom(number)}
	if d.CallID, err = NewID(); err != nil {
		return TestCallResult{}, Internal("placing a test call", err)
	}
	d.CallID = "test-" + d.CallID
	if dest.Type == DestinationSIP {
		d.To = dest.SIPURI
		if v.SIPURI != "" {
			d.To = v.SIPURI
		}
	} else {
		e164 := dest.Number
		if v.E164 != "" {
			e164 = v.E164
		}
		d.To, d.Trunk = TrunkURI(e164, *trunk), *trunk
	}
	res := TestCallResult{RequestURI: d.To}
	if number != nil {
		res.NumberID = number.ID
	}
	if trunk != nil {
		res.TrunkID = trunk.ID
	}
	// The call is not one of m.live: the SIP layer's reports about it
	// (answered, ended) find nothing and change nothing.
	dialCtx, cancel := context.WithTimeout(m.bg, req.RingTimeout)
	defer cancel()
	if req.CancelWithContext {
		stop := context.AfterFunc(ctx, cancel)
		defer stop()
	}
	m.logger.InfoContext(ctx, "test call", "test_call_id", d.CallID, "trunk_id", res.TrunkID)
	start := time.Now()
	err = m.sig.Dial(dialCtx, d)
	res.RingingMS = float64(time.Since(start).Microseconds()) / 1000
	if err == nil {
		res.Outcome, res.SIPStatus, res.Reason = TestCallAnswered, 200, "answered, and hung up at once"
		hctx, hcancel := context.WithTimeout(m.bg, 10*time.Second)
		defer hcancel()
		if herr := m.sig.Hangup(hctx, d.CallID); herr != nil {
			m.logger.WarnContext(ctx, "test call: hang up", "test_call_id", d.CallID, "err", herr)
			res.Reason = "answered; hanging up failed: " + herr.Error()
		}
		return res, nil
	}
	e := AsError(err)
	if e.Code != CodeTransferFailed && e.Code != CodeUnavailable {
		return TestCallResult{}, err
	}
	res.SIPStatus, res.Reason = e.SIPStatus, e.Message
	switch {
	case e.SIPStatus == 486 || e.SIPStatus == 600:
		res.Outcome = TestCallBusy
	case e.SIPStatus == 408 || e.SIPStatus == 480 || e.SIPStatus == 487:
		res.Outcome = TestCallNoAnswer
	case e.Code == CodeUnavailable:
		res.Outcome = TestCallUnreachable
	default:
		res.Outcome = TestCallRejected
	}
	return res, nil
}

// testRoute finds the number and trunk a test call to dest goes through:
// the number given, else the first of the assistant's numbers with a
// transfer trunk. A SIP URI needs neither: it is dialled as it is.
func (m *Calls) testRoute(ctx context.Context, req TestCallRequest, dest Destination) (*PhoneNumber, *Trunk, error) {
	var number *PhoneNumber
	switch {
	case req.NumberID != "":
		n, err := m.store.GetPhoneNumber(ctx, req.NumberID)
		if HasCode(err, CodeNotFound) {
			return nil, nil, FieldError(CodeNotFound, "phone_number_id", "phone number %q not found", clip(req.NumberID))
		}
		if err != nil {
			return nil, nil, err
		}
		number = &n
	case req.AssistantID != "":
		err := eachPage(ctx, m.store.ListPhoneNumbers, func(n PhoneNumber) {
			if number == nil && n.AssistantID != nil && *n.AssistantID == req.AssistantID && n.TransferTrunkID != nil {
				number = &n
			}
		})
		if err != nil {
			return nil, nil, err
		}
	}
	if number == nil || number.TransferTrunkID == nil {
		if dest.Type == DestinationSIP {
			return number, nil, nil
		}
		if number != nil {
			return nil, nil, FieldError(CodeInvalidRequest, "phone_number_id", "phone number %s has no transfer_trunk_id: a test call to a number goes through that trunk", number.PhoneNumber)
		}
		return nil, nil, FieldError(CodeMissingField, "phone_number_id", "give phone_number_id (or an assistant_id whose number has a transfer_trunk_id): a test call to a number goes through that number's trunk")
	}
	t, err := m.store.GetTrunk(ctx, *number.TransferTrunkID)
	if err != nil {
		return nil, nil, err
	}
	return number, &t, nil
}

func contactFrom(n *PhoneNumber) string {
	if n == nil {
		return ""
	}
	return strings.TrimSpace(n.PhoneNumber)
}
