package media

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// Generated audio, 8 kHz.

func samples(d time.Duration) int { return int(d / (time.Second / 8000)) }

func silent(d time.Duration) []int16 { return make([]int16, samples(d)) }

// noisy is a quiet line: low white noise.
func noisy(r *rand.Rand, d time.Duration) []int16 {
	out := make([]int16, samples(d))
	for i := range out {
		out[i] = int16(r.NormFloat64() * 30)
	}
	return out
}

func sine(hz float64, level float64, d time.Duration) []int16 {
	out := make([]int16, samples(d))
	for i := range out {
		out[i] = int16(level * math.Sin(2*math.Pi*hz*float64(i)/8000))
	}
	return out
}

// voiced is speech-like: the harmonics of a pitch that glides, shaped
// into syllables of about 200 ms.
func voiced(r *rand.Rand, d time.Duration) []int16 {
	out := make([]int16, samples(d))
	pitch := 110 + r.Float64()*60
	phase := 0.0
	for i := range out {
		t := float64(i) / 8000
		f0 := pitch * (1 + 0.08*math.Sin(2*math.Pi*1.3*t))
		phase += 2 * math.Pi * f0 / 8000
		var v float64
		for h := 1; h <= 20 && float64(h)*f0 < 3400; h++ {
			v += math.Sin(float64(h)*phase) / float64(h)
		}
		env := 0.55 + 0.45*math.Sin(2*math.Pi*5*t) // syllables
		out[i] = int16(4000 * env * v)
	}
	return out
}

func join(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// decide feeds pcm to a detector frame by frame until it decides.
func decide(pcm []int16, cfg AMDConfig) AMDResult {
	a := NewAMD(cfg)
	for i := 0; i+frameSamples <= len(pcm); i += frameSamples {
		if r := a.Feed(pcm[i : i+frameSamples]); r.Verdict != AnsweredPending {
			return r
		}
	}
	return a.Result()
}

func TestBeepDetectorFindsTones(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, hz := range []float64{425, 440, 987, 1000, 1400, 1987, 2000} {
		pcm := join(noisy(r, 200*time.Millisecond), sine(hz, 6000, 300*time.Millisecond), noisy(r, 200*time.Millisecond))
		b := NewBeepDetector()
		var on, ended int
		for i := 0; i+frameSamples <= len(pcm); i += frameSamples {
			beep, end := b.Feed(pcm[i : i+frameSamples])
			if beep {
				on++
			}
			if end {
				ended++
			}
		}
		// 300 ms of tone: 15 frames, the first 7 needed to be sure.
		if on < 6 || on > 9 || ended != 1 {
			t.Errorf("%.0f Hz: beep on %d frames, ended %d times; want about 8 and once", hz, on, ended)
		}
		if math.Abs(b.Frequency()-hz) > beepStepHz {
			t.Errorf("%.0f Hz heard as %.0f Hz", hz, b.Frequency())
		}
	}
}

func TestBeepDetectorIgnoresSpeechAndDigits(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cases := map[string][]int16{
		"speech":     voiced(r, 3*time.Second),
		"short tone": sine(1000, 6000, 100*time.Millisecond),
		"dtmf 5":     mix(sine(770, 4000, time.Second), sine(1336, 4000, time.Second)),
		"low hum":    sine(100, 6000, time.Second),
		"noise":      noisy(r, time.Second),
	}
	for name, pcm := range cases {
		b := NewBeepDetector()
		for i := 0; i+frameSamples <= len(pcm); i += frameSamples {
			if beep, _ := b.Feed(pcm[i : i+frameSamples]); beep {
				t.Errorf("%s: heard as a beep at %s", name, time.Duration(i/frameSamples)*frameDur)
				break
			}
		}
	}
}

func mix(a, b []int16) []int16 {
	out := make([]int16, len(a))
	for i := range a {
		out[i] = a[i] + b[i]
	}
	return out
}

func TestAMDDecides(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cases := []struct {
		name    string
		pcm     []int16
		verdict string
		within  time.Duration
	}{
		{"hello then waits", join(noisy(r, 400*time.Millisecond), voiced(r, 500*time.Millisecond), noisy(r, 3*time.Second)), AnsweredHuman, 1700 * time.Millisecond},
		{"a sentence then waits", join(silent(300*time.Millisecond), voiced(r, 1500*time.Millisecond), silent(3*time.Second)), AnsweredHuman, 2600 * time.Millisecond},
		{"a long greeting", join(silent(500*time.Millisecond), voiced(r, 6*time.Second)), AnsweredMachine, 3200 * time.Millisecond},
		{"a greeting with short pauses", join(silent(300*time.Millisecond),
			voiced(r, 900*time.Millisecond), silent(300*time.Millisecond), voiced(r, 900*time.Millisecond),
			silent(300*time.Millisecond), voiced(r, 2*time.Second)), AnsweredMachine, 3200 * time.Millisecond},
		{"a beep and nothing else", join(silent(800*time.Millisecond), sine(1000, 8000, 500*time.Millisecond), silent(2*time.Second)), AnsweredMachine, 1100 * time.Millisecond},
		{"silence", noisy(r, 5*time.Second), AnsweredUnknown, 2600 * time.Millisecond},
		{"a click, then silence", join(silent(300*time.Millisecond), sine(1000, 8000, 40*time.Millisecond), noisy(r, 3*time.Second)), AnsweredUnknown, 2600 * time.Millisecond},
	}
	for _, c := range cases {
		got := decide(c.pcm, AMDConfig{})
		t.Logf("%s: %s after %s (%s)", c.name, got.Verdict, got.After, got.Reason)
		if got.Verdict != c.verdict || got.After > c.within {
			t.Errorf("%s: %s after %s (%s); want %s within %s", c.name, got.Verdict, got.After, got.Reason, c.verdict, c.within)
		}
	}
}

func TestBeepWaitEndsWithTheBeep(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	greeting := join(voiced(r, 3*time.Second), silent(400*time.Millisecond))
	beepAt := len(greeting)
	pcm := join(greeting, sine(850, 7000, 400*time.Millisecond), silent(3*time.Second))
	w := NewBeepWait(2*time.Second, false)
	for i := 0; i+frameSamples <= len(pcm); i += frameSamples {
		ready, beep := w.Feed(pcm[i : i+frameSamples])
		if !ready {
			continue
		}
		end := beepAt + samples(400*time.Millisecond)
		if !beep || i < end || i > end+2*frameSamples {
			t.Fatalf("ready at %s (beep %v); the beep ended at %s", time.Duration(i)*time.Second/8000, beep, time.Duration(end)*time.Second/8000)
		}
		return
	}
	t.Fatal("never ready")
}

func TestBeepWaitWithoutBeep(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	pcm := join(voiced(r, 2*time.Second), silent(600*time.Millisecond), voiced(r, time.Second), silent(4*time.Second))
	w := NewBeepWait(2*time.Second, false)
	for i := 0; i+frameSamples <= len(pcm); i += frameSamples {
		if ready, beep := w.Feed(pcm[i : i+frameSamples]); ready {
			at := time.Duration(i) * time.Second / 8000
			if beep || at < 5*time.Second || at > 6*time.Second {
				t.Fatalf("ready at %s (beep %v); the greeting ended at 3.6 s", at, beep)
			}
			return
		}
	}
	t.Fatal("never ready")
}

func TestBeepWaitBeepAlreadySounding(t *testing.T) {
	// The detection decided on a beep's first 140 ms: the rest of it ends
	// the wait.
	pcm := join(sine(1000, 7000, 100*time.Millisecond), silent(time.Second))
	w := NewBeepWait(2*time.Second, true)
	for i := 0; i+frameSamples <= len(pcm); i += frameSamples {
		if ready, beep := w.Feed(pcm[i : i+frameSamples]); ready {
			if !beep || i != samples(100*time.Millisecond) {
				t.Fatalf("ready at sample %d (beep %v), want at the beep's end (800)", i, beep)
			}
			return
		}
	}
	t.Fatal("never ready")
}

func TestAMDCountsWords(t *testing.T) {
	// Counting words (off by default) decides a machine sooner: the
	// syllables of generated speech count as words.
	r := rand.New(rand.NewPCG(13, 14))
	pcm := join(silent(300*time.Millisecond), voiced(r, 5*time.Second))
	if got := decide(pcm, AMDConfig{MaxWords: 4}); got.Verdict != AnsweredMachine || got.After > 1500*time.Millisecond || !strings.Contains(got.Reason, "words") {
		t.Fatalf("%s after %s (%s); want a machine by its words within 1.5 s", got.Verdict, got.After, got.Reason)
	}
}
