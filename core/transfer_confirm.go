package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A transfer to an ad-hoc destination (one its call's assistant does not
// list) can be put to the human behind the request: when the request
// carries a ConfirmFunc, a destination that passes every other rule of the
// transfer policy (emergency numbers, denied types, countries, SIP hosts,
// attempts: those are never overridden) is confirmed or refused by the
// human instead of by the ad-hoc rule. The assistant's own destinations are
// never asked about, and an assistant whose transfer_policy.allow_adhoc is
// false is not overridden either. Without a ConfirmFunc the policy decides
// as before.

// ConfirmedByUser is Transfer.ConfirmedBy when TransferRequest.ConfirmVia
// does not say how the user was asked.
const ConfirmedByUser = "user"

// DefaultConfirmTimeout is how long a transfer waits for the human's
// answer when CallsConfig.ConfirmTimeout is not set.
const DefaultConfirmTimeout = 60 * time.Second

// Confirmation is what the human is asked about an ad-hoc destination.
type Confirmation struct {
	// Destination is the E.164 number or the SIP URI.
	Destination string
	// Region is the number's ISO 3166 region ("NL"), and NumberType its
	// libphonenumber type ("fixed_line"); both empty for a SIP URI whose
	// user part is not a number.
	Region     string
	NumberType string
	// Assistant is the name of the call's assistant ("" when it has none).
	Assistant string
}

// Message is the question put to the human.
func (q Confirmation) Message() string {
	var about []string
	if q.Region != "" {
		about = append(about, q.Region)
	}
	if q.NumberType != "" {
		about = append(about, strings.ReplaceAll(q.NumberType, "_", " "))
	}
	dest := q.Destination
	if len(about) > 0 {
		dest += " (" + strings.Join(about, ", ") + ")"
	}
	whose := "the call's assistant's"
	if q.Assistant != "" {
		whose = q.Assistant + "'s"
	}
	return fmt.Sprintf("Transfer the caller to %s? It is not one of %s transfer destinations.", dest, whose)
}

// ConfirmFunc asks the human whether a transfer may go to an ad-hoc
// destination: true is a yes. It should honour ctx; an error, or no answer
// before ctx ends, is a no.
type ConfirmFunc func(ctx context.Context, q Confirmation) (bool, error)

// ErrAskLater is what a ConfirmFunc returns when the human is asked
// outside the request (an MCP input-required round trip of protocol
// 2026-07-28): Transfer then refuses with an error that wraps it, records
// nothing, and the request comes again with the answer.
var ErrAskLater = errors.New("the user is being asked to confirm the transfer")

// askLater is confirm's reason for ErrAskLater.
const askLater = "ask later"

// confirmTimeout is the bound on the human's answer.
func (m *Calls) confirmTimeout() time.Duration {
	if m.cfg.ConfirmTimeout > 0 {
		return m.cfg.ConfirmTimeout
	}
	return DefaultConfirmTimeout
}

// confirm puts q to the human with req.Confirm, without any lock held, and
// returns whether they said yes, or why the transfer is refused.
func (m *Calls) confirm(ctx context.Context, req TransferRequest, q Confirmation) (bool, string) {
	timeout := m.confirmTimeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type answer struct {
		yes bool
		err error
	}
	ch := make(chan answer, 1)
	started := m.work.Go(func() {
		defer func() {
			if r := recover(); r != nil {
				ch <- answer{err: fmt.Errorf("panic: %v", r)}
			}
		}()
		yes, err := req.Confirm(ctx, q)
		ch <- answer{yes, err}
	})
	if !started {
		return false, fmt.Sprintf("the server is shutting down; the transfer to %s was not confirmed", q.Destination)
	}
	noAnswer := func() string {
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Sprintf("the user did not confirm the transfer to %s within %s", q.Destination, timeout)
		}
		return fmt.Sprintf("the request ended before the user confirmed the transfer to %s", q.Destination)
	}
	select {
	case a := <-ch:
		switch {
		case errors.Is(a.err, ErrAskLater):
			return false, askLater
		case a.err != nil && ctx.Err() != nil:
			return false, noAnswer()
		case a.err != nil:
			m.logger.WarnContext(ctx, "transfer confirmation failed", "destination", clip(q.Destination), "err", a.err)
			return false, fmt.Sprintf("the user could not be asked to confirm the transfer to %s (%s)", q.Destination, clip(a.err.Error()))
		case !a.yes:
			return false, fmt.Sprintf("the user declined the transfer to %s, which is not one of the assistant's transfer destinations", q.Destination)
		}
		return true, ""
	case <-ctx.Done():
		return false, noAnswer()
	}
}

// adhocForbidden reports whether the assistant's own transfer_policy
// rules out ad-hoc destinations, which no confirmation overrides.
func adhocForbidden(a *Assistant) bool {
	return a != nil && a.TransferPolicy != nil && a.TransferPolicy.AllowAdhoc != nil && !*a.TransferPolicy.AllowAdhoc
}
