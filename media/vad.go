package media

import (
	"time"

	"github.com/voicedock/voicedock/audio"
)

// VADConfig tunes the voice activity detection that splits a caller's
// audio into utterances.
type VADConfig struct {
	// Threshold is the RMS level of a 20 ms frame counted as speech when
	// the background is quiet; above a noisy background the bar rises to
	// three times its level. Default 400 (speech is about 3,000).
	Threshold float64
	// StartFrames of speech in a row start an utterance (default 3: 60 ms,
	// so a click does not).
	StartFrames int
	// Hangover is the silence that ends an utterance (default 700 ms:
	// the pauses between words are shorter).
	Hangover time.Duration
	// MinSpeech is the least speech an utterance must hold to be kept
	// (default 200 ms).
	MinSpeech time.Duration
	// MaxUtterance cuts an utterance that goes on longer (default 30 s).
	MaxUtterance time.Duration
}

func (c VADConfig) withDefaults() VADConfig {
	if c.Threshold <= 0 {
		c.Threshold = 400
	}
	if c.StartFrames <= 0 {
		c.StartFrames = 3
	}
	if c.Hangover <= 0 {
		c.Hangover = 700 * time.Millisecond
	}
	if c.MinSpeech <= 0 {
		c.MinSpeech = 200 * time.Millisecond
	}
	if c.MaxUtterance <= 0 {
		c.MaxUtterance = 30 * time.Second
	}
	return c
}

// preroll is how much audio before the detected start an utterance keeps:
// the detector needs a few frames to decide, and a word's first sound is
// often soft.
const prerollFrames = 10

// Utterance is one stretch of a caller's speech.
type Utterance struct {
	PCM        []int16 // 8 kHz
	Start, End time.Time
}

// VAD is an energy detector with a noise floor that follows the
// background, fed one 20 ms frame at a time. Written here rather than
// taken from a library because the usual Go VADs wrap WebRTC's C code
// through cgo, which this pure-Go build avoids, and segmenting telephone
// audio into utterances needs only this level-against-floor decision.
type VAD struct {
	cfg    VADConfig
	floor  float64
	voiced int // frames of speech in a row (before the start)
	silent int // frames of silence in a row (inside an utterance)
	speech int // frames of speech in the utterance
	in     bool
	start  time.Time
	buf    []int16
	pre    [][]int16
}

// NewVAD returns a detector.
func NewVAD(cfg VADConfig) *VAD {
	return &VAD{cfg: cfg.withDefaults()}
}

// Speaking reports whether an utterance is under way.
func (v *VAD) Speaking() bool { return v.in }

// Feed takes the frame heard at t. started is true on the frame that
// starts an utterance; done is the utterance the frame ended, if any.
func (v *VAD) Feed(frame []int16, t time.Time) (started bool, done *Utterance) {
	level := audio.RMS(frame)
	threshold := max(v.cfg.Threshold, 3*v.floor)
	speech := level >= threshold
	if !speech {
		// The floor follows the background slowly, and only through
		// frames that are not speech. Inside an utterance it may only
		// fall: the soft frames between syllables are not background, and
		// following them up raised the bar above the speech itself after
		// a few seconds of talk without a pause (a voicemail greeting
		// then read as silence).
		switch next := 0.95*v.floor + 0.05*level; {
		case v.floor == 0:
			v.floor = level
		case !v.in || next < v.floor:
			v.floor = next
		}
	}
	if !v.in {
		v.pre = append(v.pre, append([]int16(nil), frame...))
		if len(v.pre) > prerollFrames {
			v.pre = v.pre[1:]
		}
		if !speech {
			v.voiced = 0
			return false, nil
		}
		v.voiced++
		if v.voiced < v.cfg.StartFrames {
			return false, nil
		}
		v.in, v.silent, v.speech = true, 0, v.voiced
		v.start = t.Add(-time.Duration(len(v.pre)) * frameDur)
		v.buf = v.buf[:0]
		for _, f := range v.pre {
			v.buf = append(v.buf, f...)
		}
		v.pre = v.pre[:0]
		return true, nil
	}
	v.buf = append(v.buf, frame...)
	if speech {
		v.silent = 0
		v.speech++
	} else {
		v.silent++
	}
	long := time.Duration(len(v.buf)/frameSamples)*frameDur >= v.cfg.MaxUtterance
	if time.Duration(v.silent)*frameDur < v.cfg.Hangover && !long {
		return false, nil
	}
	return false, v.end(t)
}

// Flush ends the utterance under way, if any, at t: the audio stopped.
func (v *VAD) Flush(t time.Time) *Utterance {
	if !v.in {
		return nil
	}
	return v.end(t)
}

func (v *VAD) end(t time.Time) *Utterance {
	v.in, v.voiced = false, 0
	if time.Duration(v.speech)*frameDur < v.cfg.MinSpeech {
		return nil
	}
	// The trailing silence is dropped, but for a little of it.
	keep := max(0, len(v.buf)-max(0, v.silent-5)*frameSamples)
	return &Utterance{PCM: append([]int16(nil), v.buf[:keep]...), Start: v.start, End: t}
}
