package core

import (
	"fmt"
	"math"
	"time"

	"golang.org/x/time/rate"
)

// allowCommand counts a control command (Transfer, EndCall) against the
// call's limit, CallsConfig.CommandsPerMinute, and refuses it with
// CodeRateLimitExceeded and RetryAfter once the limit is reached. Every
// entry point goes through Transfer and EndCall, so they share the limit.
//
// The limit is a token bucket (golang.org/x/time/rate) of
// CommandsPerMinute tokens, refilled at CommandsPerMinute a minute, one
// bucket per live call, made on the call's first command and dropped with
// the call when it ends. A command is counted once it names a live call,
// whatever becomes of it (a destination refused by policy counts); a
// refused command takes no token, and nothing of it is sent.
func (m *Calls) allowCommand(lc *liveCall) error {
	n := m.cfg.CommandsPerMinute
	if n <= 0 {
		return nil
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	now := m.now()
	if lc.commands == nil {
		lc.commands = rate.NewLimiter(rate.Limit(float64(n)/time.Minute.Seconds()), n)
	}
	if lc.commands.AllowN(now, 1) {
		return nil
	}
	missing := 1 - lc.commands.TokensAt(now)
	wait := time.Duration(missing / float64(lc.commands.Limit()) * float64(time.Second))
	secs := max(1, int(math.Ceil(wait.Seconds())))
	return &Error{
		Code: CodeRateLimitExceeded, Param: "call_id", RetryAfter: secs,
		Message: fmt.Sprintf("too many control commands for call %s: at most %d control commands (transfers, hang-ups, messages) a minute; retry after %d seconds",
			lc.call.ID, n, secs),
	}
}
