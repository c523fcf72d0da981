package media

import (
	"math"
	"time"

	"github.com/voicedock/voicedock/audio"
)

// Bounds of a voicemail beep: a sustained pure tone. Greeting systems use
// anything from 425 Hz to about 2 kHz (1 kHz is the most common), lasting
// from a tenth of a second to over a second.
const (
	beepLowHz  = 350
	beepHighHz = 2100
	beepStepHz = 25
	// beepPurity is the share of a frame's energy that must sit at one
	// frequency: a pure tone measures 0.8 to 1 (0.8 when it falls halfway
	// between two of the frequencies scanned), a vowel 0.5 at most (its
	// energy is spread over the harmonics of the voice).
	beepPurity = 0.7
	// beepLevel is the least RMS of a beep's frames (speech is ~3,000).
	beepLevel = 200
	// beepDrift is how far the tone may wander from frame to frame.
	beepDrift = 2 * beepStepHz
	// MinBeep is how long a tone must last to count as a beep: longer
	// than a DTMF digit (40-100 ms) and than a sung vowel usually holds
	// one pitch, shorter than the shortest beeps.
	MinBeep = 140 * time.Millisecond
)

// BeepDetector finds a voicemail system's beep in 20 ms frames of 8 kHz
// audio. Written here because the Go Goertzel libraries (e.g.
// CyCoreSystems/goertzel) look for one frequency known in advance, while a
// beep may be at any frequency from 350 Hz to 2.1 kHz: each frame is
// scanned every 25 Hz with the generalised Goertzel filter, about 11,000
// multiplications per frame.
type BeepDetector struct {
	coeffs []float64 // 2cos(2πf/8000) per frequency scanned
	freqs  []float64
	run    int     // frames of the same pure tone in a row
	hz     float64 // that tone's frequency
	seen   bool    // a beep (MinBeep of tone) is under way
}

// NewBeepDetector returns a detector.
func NewBeepDetector() *BeepDetector {
	b := &BeepDetector{}
	for f := float64(beepLowHz); f <= beepHighHz; f += beepStepHz {
		b.freqs = append(b.freqs, f)
		b.coeffs = append(b.coeffs, 2*math.Cos(2*math.Pi*f/8000))
	}
	return b
}

// Feed takes the next frame. beep is true while a tone of at least
// MinBeep is sounding; ended is true on the first frame after one.
func (b *BeepDetector) Feed(frame []int16) (beep, ended bool) {
	hz, ok := b.tone(frame)
	if ok && b.run > 0 && math.Abs(hz-b.hz) <= beepDrift {
		b.run++
	} else if ok {
		b.run, b.hz = 1, hz
	} else {
		b.run = 0
	}
	was := b.seen
	b.seen = time.Duration(b.run)*frameDur >= MinBeep
	return b.seen, was && !b.seen
}

// Frequency is the frequency of the tone last heard.
func (b *BeepDetector) Frequency() float64 { return b.hz }

// tone reports the frame's dominant frequency and whether the frame is a
// pure tone at it.
func (b *BeepDetector) tone(frame []int16) (float64, bool) {
	if len(frame) == 0 || audio.RMS(frame) < beepLevel {
		return 0, false
	}
	var energy float64
	for _, s := range frame {
		energy += float64(s) * float64(s)
	}
	best, bestHz := 0.0, 0.0
	for i, c := range b.coeffs {
		var s1, s2 float64
		for _, x := range frame {
			s1, s2 = float64(x)+c*s1-s2, s1
		}
		if p := s1*s1 + s2*s2 - c*s1*s2; p > best {
			best, bestHz = p, b.freqs[i]
		}
	}
	// A sinusoid of amplitude A over N samples measures (AN/2)² at its
	// frequency and carries A²N/2 of energy: the ratio below is 1.
	purity := best / (float64(len(frame)) / 2 * energy)
	return bestHz, purity >= beepPurity
}
