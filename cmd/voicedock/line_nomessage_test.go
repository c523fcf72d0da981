package main

import (
	"testing"
	"time"
)

// newLineNoMessage is newPhoneLine whose sales destination has no
// message: the REFER goes as soon as transfer_call asks for it, instead of
// after a second and a half of speech synthesised and played in real
// time. For tests that check nothing of that message (the tests of the
// message itself use newSpeakingLine or configureMessage).
func newLineNoMessage(t *testing.T, targetPort int, env ...string) *phoneLine {
	t.Helper()
	c, logs := stdioServerVersion(t, "2025-11-25", t.TempDir(), env...)
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	line.configureMessage(t, targetPort, "")
	return line
}
