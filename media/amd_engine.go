package media

import (
	"context"
	"time"

	"github.com/voicedock/voicedock/core"
)

// Wall-clock bounds of the detection, over the audio's own: a far side
// that sends no RTP (or stops) still gets a decision.
const (
	// amdSlack is added to the analysis time for packets late or lost.
	amdSlack = time.Second
	// beepWaitMax bounds the wait for a voicemail box's beep: longer
	// greetings are rare, and the message is left anyway.
	beepWaitMax = 30 * time.Second
)

var _ core.VoicemailDetector = (*Engine)(nil)

// frameTap hands the frames a session receives to one listener; frames
// it cannot take at once are dropped rather than stall the receiver.
type frameTap struct {
	ch chan []int16
}

// tapFrame passes a received frame to the session's tap, if any; on the
// receiving goroutine.
func (s *Session) tapFrame(codec string, payload []byte) {
	if tap := s.tap.Load(); tap != nil {
		select {
		case tap.ch <- Decode(codec, payload):
		default:
		}
	}
}

// DetectVoicemail runs answering-machine detection on what the call's far
// side sends (see AMD), and for a machine with opts.WaitForBeep follows
// the greeting to its beep (see BeepWait), rendering opts.Message
// meanwhile (the speech engine keeps what it rendered, so the Say that
// follows starts at once). It returns the call's end as
// core.CodeCallNotActive.
func (e *Engine) DetectVoicemail(ctx context.Context, callID string, opts core.VoicemailListen) (core.VoicemailCheck, error) {
	s, err := e.live(callID)
	if err != nil {
		return core.VoicemailCheck{}, err
	}
	tap := &frameTap{ch: make(chan []int16, 50)}
	if !s.tap.CompareAndSwap(nil, tap) {
		return core.VoicemailCheck{}, core.FieldError(core.CodeConflict, "call_id", "call %s is already being listened to for a voicemail box", callID)
	}
	defer s.tap.Store(nil)

	cfg := e.cfg.AMD.withDefaults()
	amd := NewAMD(cfg)
	frames := newFramer()
	limit := time.NewTimer(cfg.Total + amdSlack)
	defer limit.Stop()
	var res AMDResult
	heard := 0 // samples heard
	for res.Verdict == AnsweredPending {
		select {
		case <-ctx.Done():
			return core.VoicemailCheck{}, ctx.Err()
		case <-s.done:
			return core.VoicemailCheck{}, endedError(callID)
		case <-limit.C:
			res = AMDResult{Verdict: AnsweredUnknown, Reason: "too little audio arrived", After: samplesDur(heard)}
		case pcm := <-tap.ch:
			for _, f := range frames.push(pcm) {
				heard += len(f)
				if res = amd.Feed(f); res.Verdict != AnsweredPending {
					break
				}
			}
		}
	}
	check := core.VoicemailCheck{AnsweredBy: res.Verdict, Reason: res.Reason, DecidedAfter: res.After, Beep: res.Beep}
	if res.Verdict != AnsweredMachine || !opts.WaitForBeep {
		return check, nil
	}
	if opts.Message != nil && e.cfg.Speech != nil {
		u := *opts.Message
		// Not cancelled when the beep comes first: the Say that follows
		// joins the render under way. Bounded as a playback is.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), beepWaitMax)
		go func() {
			defer cancel()
			if _, err := e.cfg.Speech.Render(rctx, u); err != nil {
				e.log.Debug("rendering the voicemail message ahead", "call_id", callID, "err", err)
			}
		}()
	}
	wait := NewBeepWait(beepWaitSilence, res.Beep)
	limit.Reset(beepWaitMax)
	for {
		select {
		case <-ctx.Done():
			return check, ctx.Err()
		case <-s.done:
			return check, endedError(callID)
		case <-limit.C:
			check.ReadyAfter = samplesDur(heard)
			return check, nil
		case pcm := <-tap.ch:
			for _, f := range frames.push(pcm) {
				heard += len(f)
				if ready, beep := wait.Feed(f); ready {
					check.ReadyAfter, check.Beep = samplesDur(heard), beep
					return check, nil
				}
			}
		}
	}
}

func samplesDur(n int) time.Duration { return time.Duration(n) * time.Second / 8000 }

// framer cuts received audio into 20 ms frames whatever the packets'
// length (ptime 10, 30...).
type framer struct{ buf []int16 }

func newFramer() *framer { return &framer{} }

func (f *framer) push(pcm []int16) [][]int16 {
	f.buf = append(f.buf, pcm...)
	var out [][]int16
	for len(f.buf) >= frameSamples {
		out = append(out, f.buf[:frameSamples:frameSamples])
		f.buf = f.buf[frameSamples:]
	}
	if len(f.buf) == 0 {
		f.buf = nil
	}
	return out
}
