package sip

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// maxDTMFBody bounds the INFO bodies read for a key press.
const maxDTMFBody = 1024

// parseDTMFRelay reads the key of an INFO body: application/dtmf-relay
// ("Signal=5\r\nDuration=160", the de facto format of Cisco and most
// phones) or application/dtmf (the key alone). Keys are 0-9, *, #, A-D;
// the event codes 10 and 11 some phones send stand for * and #. ok is
// false for anything else.
func parseDTMFRelay(contentType string, body []byte) (digit string, ok bool) {
	if len(body) > maxDTMFBody {
		return "", false
	}
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	var signal string
	switch mt {
	case "application/dtmf-relay":
		for _, line := range strings.FieldsFunc(string(body), func(r rune) bool { return r == '\r' || r == '\n' }) {
			k, v, found := strings.Cut(line, "=")
			if found && strings.EqualFold(strings.TrimSpace(k), "signal") {
				signal = strings.TrimSpace(v)
				break
			}
		}
	case "application/dtmf":
		signal = strings.TrimSpace(string(body))
	default:
		return "", false
	}
	switch signal {
	case "10":
		return "*", true
	case "11":
		return "#", true
	}
	signal = strings.ToUpper(signal)
	if len(signal) == 1 && strings.Contains("0123456789*#ABCD", signal) {
		return signal, true
	}
	return "", false
}

// infoDigit hands the key an INFO carries to the call's media, which
// passes it to the core in order with the RTP ones.
func (u *UA) infoDigit(req *sip.Request) {
	key, ok := requestKey(req)
	if !ok || u.cfg.Media == nil {
		return
	}
	c := u.calls.byDialog(key)
	if c == nil {
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	digit, ok := parseDTMFRelay(ct, req.Body())
	if !ok {
		return
	}
	if !u.cfg.Media.Digit(c.id, digit, "sip-info") {
		u.log.Debug("DTMF by INFO on a call without media", "call_id", c.id, "digit", digit)
	}
}
