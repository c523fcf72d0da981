package media

import (
	"fmt"
	"time"
)

// Verdicts of answering-machine detection.
const (
	AnsweredPending = ""
	AnsweredHuman   = "human"
	AnsweredMachine = "machine"
	// AnsweredUnknown: nothing decided within the analysis time. The
	// call manager treats it as a human, so that a person is never
	// dropped for a voicemail box.
	AnsweredUnknown = "unknown"
)

// AMDConfig tunes answering-machine detection. The defaults follow
// Asterisk's AMD application, with a longer greeting bar: a person
// answering says a word or a short sentence ("Hello?", "Yes, this is Anna
// speaking.") and waits, a voicemail box talks on for several seconds.
type AMDConfig struct {
	// InitialSilence with no speech at all gives up: unknown (default
	// 2.5 s). Asterisk calls it a machine; here a silent line may be a
	// person waiting, who must not be dropped.
	InitialSilence time.Duration
	// Greeting is the longest speech without a pause a person answers
	// with; speaking longer is a machine (default 2.3 s).
	Greeting time.Duration
	// AfterGreetingSilence after a greeting shorter than Greeting is a
	// person waiting for an answer: human (default 700 ms).
	AfterGreetingSilence time.Duration
	// MaxWords spoken without such a pause is a machine (Asterisk's
	// maximumNumberOfWords); 0, the default, does not count words: the
	// dips between syllables count as pauses between words on many
	// voices, which made a person's "Yes, this is Anna speaking." a
	// machine in the tests, while the greeting's length alone told every
	// measured greeting from every person. Words are stretches of speech
	// of at least MinWord apart by at least BetweenWords of silence
	// (defaults 100 and 60 ms).
	MaxWords     int
	MinWord      time.Duration
	BetweenWords time.Duration
	// Total bounds the analysis: unknown (default 4 s).
	Total time.Duration
	// Threshold is the speech level, as VADConfig.Threshold.
	Threshold float64
}

func (c AMDConfig) withDefaults() AMDConfig {
	if c.InitialSilence <= 0 {
		c.InitialSilence = 2500 * time.Millisecond
	}
	if c.Greeting <= 0 {
		c.Greeting = 2300 * time.Millisecond
	}
	if c.AfterGreetingSilence <= 0 {
		c.AfterGreetingSilence = 700 * time.Millisecond
	}
	if c.MinWord <= 0 {
		c.MinWord = 100 * time.Millisecond
	}
	if c.BetweenWords <= 0 {
		c.BetweenWords = 60 * time.Millisecond
	}
	if c.Total <= 0 {
		c.Total = 4 * time.Second
	}
	return c
}

// AMDResult is what the detection decided, and after how much audio.
type AMDResult struct {
	Verdict string        // AnsweredHuman, AnsweredMachine or AnsweredUnknown
	Reason  string        // why, in words
	After   time.Duration // audio heard until the decision
	Beep    bool          // decided by a beep
}

// AMD tells a person from an answering machine by the shape of what the
// far side says first, fed one 20 ms frame of 8 kHz audio at a time. Two
// voice activity detectors (VAD) follow the audio: one with a long
// hangover finds the greeting (speech until a pause), one with a short one
// counts its words; a BeepDetector runs alongside, since some voicemail
// boxes beep without a greeting. Written here as Asterisk's app_amd is
// written: no Go library implements it.
type AMD struct {
	cfg      AMDConfig
	greeting *VAD
	words    *VAD
	beep     *BeepDetector
	frames   int // frames heard
	start    int // frame the greeting started on; -1 before
	count    int // words in the greeting so far
	result   AMDResult
}

// NewAMD returns a detector.
func NewAMD(cfg AMDConfig) *AMD {
	cfg = cfg.withDefaults()
	return &AMD{
		cfg: cfg,
		greeting: NewVAD(VADConfig{
			Threshold: cfg.Threshold, Hangover: cfg.AfterGreetingSilence,
			MinSpeech: cfg.MinWord, MaxUtterance: time.Minute,
		}),
		words: NewVAD(VADConfig{
			Threshold: cfg.Threshold, StartFrames: int(cfg.MinWord / frameDur),
			Hangover: cfg.BetweenWords, MinSpeech: cfg.MinWord, MaxUtterance: time.Minute,
		}),
		beep:  NewBeepDetector(),
		start: -1,
	}
}

// Result is the decision so far; its Verdict is AnsweredPending until one
// is made.
func (a *AMD) Result() AMDResult { return a.result }

// Feed takes the next frame and returns the decision once made; every
// frame after it returns the same.
func (a *AMD) Feed(frame []int16) AMDResult {
	if a.result.Verdict != AnsweredPending {
		return a.result
	}
	a.frames++
	now := time.Duration(a.frames) * frameDur
	t := time.Unix(0, 0).Add(now) // the detectors want a clock: the audio's own
	if beep, _ := a.beep.Feed(frame); beep {
		return a.decide(AnsweredMachine, fmt.Sprintf("a beep at %.0f Hz", a.beep.Frequency()), true)
	}
	started, done := a.greeting.Feed(frame, t)
	if wordStarted, _ := a.words.Feed(frame, t); wordStarted && a.greeting.Speaking() {
		a.count++
	}
	if started {
		a.start = a.frames - a.greeting.cfg.StartFrames
		if a.words.Speaking() && a.count == 0 {
			a.count = 1
		}
	}
	switch {
	case a.greeting.Speaking() && a.greeting.silent == 0 && time.Duration(a.frames-a.start)*frameDur > a.cfg.Greeting:
		// Measured to a frame of speech, not into the pause after it.
		return a.decide(AnsweredMachine, fmt.Sprintf("a greeting longer than %s", a.cfg.Greeting), false)
	case a.cfg.MaxWords > 0 && a.greeting.Speaking() && a.count >= a.cfg.MaxWords:
		return a.decide(AnsweredMachine, fmt.Sprintf("%d words without a pause", a.count), false)
	case done != nil:
		return a.decide(AnsweredHuman, fmt.Sprintf("a short greeting (%s), then silence", done.End.Sub(done.Start)-a.cfg.AfterGreetingSilence), false)
	case !a.greeting.Speaking():
		// Speech too short to be kept (a click, a breath) starts the
		// count of words afresh.
		a.count = 0
		if a.start < 0 && now >= a.cfg.InitialSilence {
			return a.decide(AnsweredUnknown, fmt.Sprintf("no speech in %s", a.cfg.InitialSilence), false)
		}
	}
	if now >= a.cfg.Total {
		return a.decide(AnsweredUnknown, fmt.Sprintf("nothing decided in %s", a.cfg.Total), false)
	}
	return a.result
}

func (a *AMD) decide(verdict, reason string, beep bool) AMDResult {
	a.result = AMDResult{Verdict: verdict, Reason: reason, After: time.Duration(a.frames) * frameDur, Beep: beep}
	return a.result
}

// BeepWait follows a voicemail greeting to the moment a message can be
// left: the end of its beep, or, for a box that does not beep, a long
// silence after the greeting.
type BeepWait struct {
	beep    *BeepDetector
	vad     *VAD
	silence time.Duration
	frames  int
	quiet   int // frames of silence since the last speech
	spoke   bool
	inBeep  bool
}

// NewBeepWait returns a follower that also accepts silence lasting
// silence (after some speech) as the end of the greeting. inBeep says a
// beep is already sounding (it decided the detection).
func NewBeepWait(silence time.Duration, inBeep bool) *BeepWait {
	return &BeepWait{beep: NewBeepDetector(), vad: NewVAD(VADConfig{Hangover: 300 * time.Millisecond}), silence: silence, inBeep: inBeep, spoke: inBeep}
}

// Feed takes the next frame; ready is true when the message can start,
// beep whether a beep said so.
func (w *BeepWait) Feed(frame []int16) (ready, beep bool) {
	w.frames++
	on, ended := w.beep.Feed(frame)
	if ended {
		return true, true
	}
	if w.inBeep {
		switch {
		case w.beep.run == 0:
			return true, true // the beep that decided the detection stopped
		case on:
			w.inBeep = false // long enough to be followed to its end
		}
	}
	w.vad.Feed(frame, time.Unix(0, 0).Add(time.Duration(w.frames)*frameDur))
	if w.vad.Speaking() {
		w.spoke, w.quiet = true, 0
		return false, false
	}
	w.quiet++
	return w.spoke && time.Duration(w.quiet)*frameDur >= w.silence, false
}

// beepWaitSilence after a greeting is taken as its end when no beep
// comes: longer than the pauses between its sentences.
const beepWaitSilence = 2 * time.Second
