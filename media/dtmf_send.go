package media

import (
	"context"
	"math"
	"time"

	"github.com/pion/rtp"

	"github.com/voicedock/voicedock/core"
)

// Keys are sent as RFC 4733 telephone-events built here by hand: pion/rtp
// makes and parses the RTP packets but has no telephone-event payload, nor
// has any Go library this module could use; the payload is four bytes
// (event, end bit and volume, duration), and what matters is the timing
// around it, which the session's own clock and sequence already give.
const (
	// dtmfTone is how long each key sounds: 100 ms, what PBXs and
	// carriers take for a key (RFC 4733 leaves it to the sender).
	dtmfTone = 100 * time.Millisecond
	// dtmfGap separates two keys, so that the same key twice is two.
	dtmfGap = 100 * time.Millisecond
	// dtmfVolume is the tone's power, -10 dBm0 (RFC 4733 2.5.2.2).
	dtmfVolume = 10
	// dtmfEndRepeats: the end packet is sent three times, each 20 ms
	// apart, so that losing one does not lose the key (RFC 4733
	// 2.5.1.4).
	dtmfEndRepeats = 3
)

// dtmfEvent is the RFC 4733 event code of a key.
func dtmfEvent(k byte) (byte, bool) {
	switch {
	case k >= '0' && k <= '9':
		return k - '0', true
	case k == '*':
		return 10, true
	case k == '#':
		return 11, true
	}
	return 0, false
}

// SendDigits sends digits (0-9, *, #; w pauses core.ExtensionPause) on
// the call: as RFC 4733 telephone-events at the payload type the far side
// negotiated, or as tones in the audio when it negotiated none. It
// returns once the last key has been sent. Nothing else is played on the
// call meanwhile.
func (e *Engine) SendDigits(ctx context.Context, callID, digits string) error {
	for i := 0; i < len(digits); i++ {
		if _, ok := dtmfEvent(digits[i]); !ok && digits[i] != 'w' {
			return core.FieldError(core.CodeInvalidRequest, "extension", "%q cannot be dialled: only 0-9, *, # and w", digits[i:i+1])
		}
	}
	s, err := e.live(callID)
	if err != nil {
		return err
	}
	s.playMu.Lock()
	defer s.playMu.Unlock()
	for i := 0; i < len(digits); i++ {
		if digits[i] == 'w' {
			if err := s.wait(ctx, core.ExtensionPause); err != nil {
				return err
			}
			continue
		}
		if i > 0 && digits[i-1] != 'w' {
			if err := s.wait(ctx, dtmfGap); err != nil {
				return err
			}
		}
		ev, _ := dtmfEvent(digits[i])
		if te := s.Params().TelephoneEvent; te >= 0 {
			err = s.sendEvent(ctx, uint8(te), ev)
		} else {
			err = s.playLocked(ctx, dtmfTonePCM(digits[i]))
		}
		if err != nil {
			if s.closed.Load() {
				return endedError(s.callID)
			}
			return err
		}
	}
	return nil
}

// wait waits d, or until ctx or the session ends.
func (s *Session) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return endedError(s.callID)
	}
}

// sendEvent sends one key as telephone-events: a packet every 20 ms while
// it sounds, the first with the marker bit, each with the duration so
// far, all with the timestamp of its start; then the end packet, three
// times. s.playMu is held.
func (s *Session) sendEvent(ctx context.Context, pt, ev byte) error {
	steps := int(dtmfTone / frameDur)
	start := time.Now()
	s.mu.Lock()
	ts := s.eventStartLocked(start)
	s.mu.Unlock()
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for i := 1; i <= steps+dtmfEndRepeats; i++ {
		if i > 1 {
			t.Reset(time.Until(start.Add(time.Duration(i-1) * frameDur)))
			select {
			case <-t.C:
			case <-ctx.Done():
				return ctx.Err()
			case <-s.done:
				return errSessionClosed
			}
		}
		end := i > steps
		dur := min(i, steps) * frameSamples
		payload := [4]byte{ev, dtmfVolume, byte(dur >> 8), byte(dur)}
		if end {
			payload[1] |= 0x80
		}
		s.mu.Lock()
		s.sendEventLocked(pt, ts, i == 1, payload[:], time.Now())
		s.mu.Unlock()
	}
	return nil
}

// eventStartLocked is the timestamp of an event starting now: the next
// frame's, following the clock after a pause as sendLocked does; s.mu is
// held.
func (s *Session) eventStartLocked(now time.Time) uint32 {
	if gap := now.Sub(s.lastSend); !s.lastSend.IsZero() && gap > 30*time.Millisecond {
		s.ts += uint32((gap+10*time.Millisecond)/frameDur-1) * frameSamples
	}
	s.ts += frameSamples
	s.lastSend = now
	return s.ts
}

// sendEventLocked sends one telephone-event packet; each takes a frame's
// place in the stream (the session's timestamp moves on by a frame after
// the first), so audio after the key carries on in time. s.mu is held.
func (s *Session) sendEventLocked(pt byte, ts uint32, first bool, payload []byte, now time.Time) bool {
	if !first {
		s.ts += frameSamples
		s.lastSend = now
	}
	if s.closed.Load() || !s.p.Send || !s.remote.IsValid() || s.remote.Port() == 0 {
		return false
	}
	s.seq++
	pkt := rtp.Packet{Header: rtp.Header{
		Version: 2, Marker: first, PayloadType: pt,
		SequenceNumber: s.seq, Timestamp: ts, SSRC: s.ssrc,
	}, Payload: payload}
	b, err := pkt.Marshal()
	if err != nil {
		return false
	}
	if _, err := s.conn.WriteToUDPAddrPort(b, s.remote); err != nil {
		s.log.Debug("send RTP event", "call_id", s.callID, "err", err)
		return false
	}
	s.sent.Add(1)
	return true
}

// dtmfTonePCM is a key as sound (8 kHz): its two frequencies (ITU-T
// Q.23) for dtmfTone, for a far side that negotiated no telephone-event.
func dtmfTonePCM(k byte) []int16 {
	rows := [4]float64{697, 770, 852, 941}
	cols := [3]float64{1209, 1336, 1477}
	const keys = "123456789*0#"
	i := -1
	for j := 0; j < len(keys); j++ {
		if keys[j] == k {
			i = j
		}
	}
	if i < 0 {
		return nil // SendDigits checked the keys
	}
	lo, hi := rows[i/3], cols[i%3]
	n := int(8000 * dtmfTone.Seconds())
	out := make([]int16, n)
	for j := range out {
		t := float64(j) / 8000
		out[j] = int16(6000*math.Sin(2*math.Pi*lo*t) + 6000*math.Sin(2*math.Pi*hi*t))
	}
	return out
}
