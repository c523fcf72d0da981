package media

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/voicedock/voicedock/audio"
)

// speak renders text with espeak-ng at 8 kHz.
func speak(t testing.TB, text string) []int16 {
	t.Helper()
	out, err := exec.Command("espeak-ng", "--stdout", "-v", "en-us", text).Output()
	if err != nil {
		t.Fatalf("espeak-ng (scripts/test.sh installs it): %v", err)
	}
	p, err := audio.DecodeWAV(out, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return p.To8k().Samples
}

// feed runs pcm through v frame by frame from t0 and returns the
// utterances and the frames on which speech started.
func feed(v *VAD, pcm []int16, t0 time.Time) (us []Utterance, starts []int) {
	for i := 0; i+frameSamples <= len(pcm); i += frameSamples {
		started, u := v.Feed(pcm[i:i+frameSamples], t0.Add(time.Duration(i/frameSamples)*frameDur))
		if started {
			starts = append(starts, i/frameSamples)
		}
		if u != nil {
			us = append(us, *u)
		}
	}
	return us, starts
}

func silenceFor(d time.Duration) []int16 { return make([]int16, int(d/frameDur)*frameSamples) }

// Two sentences with a pause between them are two utterances, each about
// as long as spoken; silence and a click are none.
func TestVADSplitsUtterances(t *testing.T) {
	one, two := speak(t, "I want to talk to a human."), speak(t, "My order number is four two seven.")
	var pcm []int16
	pcm = append(pcm, silenceFor(time.Second)...)
	click := make([]int16, frameSamples)
	for i := range click {
		click[i] = 8000
	}
	pcm = append(pcm, click...)
	pcm = append(pcm, silenceFor(time.Second)...)
	pcm = append(pcm, one...)
	pcm = append(pcm, silenceFor(1500*time.Millisecond)...)
	pcm = append(pcm, two...)
	pcm = append(pcm, silenceFor(1500*time.Millisecond)...)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	us, starts := feed(NewVAD(VADConfig{}), pcm, t0)
	if len(us) != 2 || len(starts) != 2 {
		t.Fatalf("%d utterances (%d starts), want 2", len(us), len(starts))
	}
	for i, want := range [][]int16{one, two} {
		spoken := time.Duration(len(want)) * time.Second / 8000
		got := us[i].End.Sub(us[i].Start)
		t.Logf("utterance %d: %s long, %d samples, spoken %s", i, got, len(us[i].PCM), spoken)
		if got < spoken/2 || got > spoken+time.Second {
			t.Errorf("utterance %d lasts %s, spoken %s", i, got, spoken)
		}
	}
	// The detector keeps 200 ms of what came before the speech (at 2.02 s).
	if !us[0].Start.After(t0.Add(1700 * time.Millisecond)) {
		t.Errorf("the first utterance starts at %s, before the speech", us[0].Start.Sub(t0))
	}
}

// A long monologue is cut at MaxUtterance.
func TestVADCutsLongSpeech(t *testing.T) {
	var pcm []int16
	s := speak(t, "one two three four five six seven eight nine ten")
	for len(pcm) < 8000*8 {
		pcm = append(pcm, s...)
	}
	us, _ := feed(NewVAD(VADConfig{MaxUtterance: 2 * time.Second, Hangover: 5 * time.Second}), pcm, time.Now())
	if len(us) < 3 {
		t.Fatalf("%d utterances from 8 s of speech cut at 2 s", len(us))
	}
	for _, u := range us {
		if d := u.End.Sub(u.Start); d > 2500*time.Millisecond {
			t.Errorf("utterance of %s", d)
		}
	}
}

// The recorded caller of the end-to-end test (mu-law, as sipp sends it)
// is one utterance. DecodeWAV reads mu-law itself; the test once had sox
// convert the file, which the test command does not install.
func TestVADHearsTheRecordedCaller(t *testing.T) {
	wav, err := os.ReadFile("../testdata/sipp/caller_human.wav")
	if err != nil {
		t.Fatal(err)
	}
	p, err := audio.DecodeWAV(wav, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	pcm := append(append(silenceFor(time.Second), p.Samples...), silenceFor(time.Second)...)
	us, _ := feed(NewVAD(VADConfig{}), pcm, time.Now())
	if len(us) != 1 {
		t.Fatalf("%d utterances, want 1 (rms %.0f)", len(us), audio.RMS(p.Samples))
	}
}

// Audio that stops mid-utterance (a phone suppressing silence) is ended
// by Flush, and only then.
func TestVADFlush(t *testing.T) {
	v := NewVAD(VADConfig{})
	us, starts := feed(v, speak(t, "I want to talk to a human"), time.Now())
	if len(us) != 0 || len(starts) != 1 || !v.Speaking() {
		t.Fatalf("before the flush: %d utterances, %d starts, speaking %v", len(us), len(starts), v.Speaking())
	}
	if u := v.Flush(time.Now()); u == nil || len(u.PCM) < 8000 {
		t.Fatalf("flush: %+v", u)
	}
	if v.Flush(time.Now()) != nil || v.Speaking() {
		t.Fatal("flushed twice")
	}
}
