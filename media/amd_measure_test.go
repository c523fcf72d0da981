package media

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/voicedock/voicedock/audio"
)

var amdMeasure = flag.Bool("amd.measure", false, "run TestAMDMeasure: answering-machine detection on espeak-ng greetings")

// Voicemail greetings and the answers of people, as espeak-ng says them.
var (
	amdGreetings = []struct{ voice, text string }{
		{"en-us", "Hi, you've reached John. Leave a message after the tone."},
		{"en-us+f3", "Hello, you have reached the voicemail of Sarah Miller. I'm not available right now, please leave your name and number and I will call you back."},
		{"en", "The person you are calling is not available. Please leave a message after the tone."},
		{"en-gb-x-rp+m3", "Thank you for calling Acme Plumbing. Our office is closed. Please leave a message."},
		{"en-us+m7", "Hey, it's Mike. Can't talk. Leave a message."},
		{"en-us+f1", "You've reached the sales team at Northwind. We're helping other customers. Please leave a detailed message and we'll get back to you within one business day."},
		{"en+f4", "Hi! This is Anna. Sorry I missed you. Leave a message."},
		{"en-us+m2", "Please leave your message for 4 1 5, 5 5 5, 0 1 9 9, after the tone. When you are finished recording, you may hang up."},
		{"en-gb-scotland", "Hello. I'm away from my desk. Leave a message."},
		{"en-us+f2", "This is Dr. Patel's office. If this is an emergency, hang up and dial 9 1 1. Otherwise leave a message after the beep."},
	}
	amdHumans = []struct{ voice, text string }{
		{"en-us", "Hello?"},
		{"en-us+f3", "Yes, this is Anna speaking."},
		{"en", "Hello, sales."},
		{"en-gb-x-rp+m3", "Hi, Mark here."},
		{"en-us+m7", "Yeah?"},
		{"en-us+f1", "Good morning, Northwind."},
		{"en+f4", "Hello, who is this?"},
		{"en-us+m2", "Speaking."},
		{"en-gb-scotland", "Hello, John Smith."},
		{"en-us+f2", "Front desk, how can I help?"},
	}
	amdBeeps = []float64{1000, 440, 1400, 850, 2000}
)

// TestAMDMeasure measures answering-machine detection on espeak-ng
// greetings followed by a beep, and on short human answers, each after
// half a second of line noise and through G.711: the detection rate and
// the time to a decision. Run with
//
//	go test -run TestAMDMeasure -v ./media/ -args -amd.measure
//
// The audio is generated into a temporary folder.
func TestAMDMeasure(t *testing.T) {
	if !*amdMeasure {
		t.Skip("a measurement: run with -args -amd.measure")
	}
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(11, 12))
	say := func(i int, voice, text string) []int16 {
		path := filepath.Join(dir, fmt.Sprintf("%d.wav", i))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "espeak-ng", "-v", voice, "-w", path, text).CombinedOutput(); err != nil {
			t.Fatalf("espeak-ng %s: %v: %s", voice, err, out)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		pcm, err := audio.DecodeWAV(b, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return throughPCMU(pcm.To8k().Samples)
	}
	t.Logf("%-4s %-8s %-7s %-9s %-9s %-8s %s", "#", "kind", "length", "verdict", "after", "ready", "reason / text")
	var machines, machinesRight, humans, humansRight int
	var machineAfter, humanAfter, worst time.Duration
	for i, g := range amdGreetings {
		speech := say(i, g.voice, g.text)
		hz := amdBeeps[i%len(amdBeeps)]
		pcm := join(noisy(r, 500*time.Millisecond), speech, noisy(r, 300*time.Millisecond), sine(hz, 8000, 400*time.Millisecond), noisy(r, 2*time.Second))
		res, ready, beep := measureOne(pcm)
		machines++
		if res.Verdict == AnsweredMachine {
			machinesRight++
			machineAfter += res.After
		}
		worst = max(worst, res.After)
		beepEnd := time.Duration(samples(500*time.Millisecond)+len(speech)+samples(700*time.Millisecond)) * time.Second / 8000
		t.Logf("%-4d %-8s %-7s %-9s %-9s %-8s %s (beep %.0f Hz ends %s, ready by beep %v) %q", i, "machine", dur(speech), res.Verdict, res.After, ready, res.Reason, hz, beepEnd.Round(10*time.Millisecond), beep, g.text)
	}
	for i, h := range amdHumans {
		speech := say(100+i, h.voice, h.text)
		pcm := join(noisy(r, 500*time.Millisecond), speech, noisy(r, 4*time.Second))
		res, _, _ := measureOne(pcm)
		humans++
		if res.Verdict != AnsweredMachine {
			humansRight++
			humanAfter += res.After
		}
		worst = max(worst, res.After)
		t.Logf("%-4d %-8s %-7s %-9s %-9s %-8s %s %q", i, "human", dur(speech), res.Verdict, res.After, "", res.Reason, h.text)
	}
	t.Logf("machines detected: %d of %d, mean time to decision %s", machinesRight, machines, mean(machineAfter, machinesRight))
	t.Logf("humans kept (human or unknown): %d of %d, mean time to decision %s", humansRight, humans, mean(humanAfter, humansRight))
	t.Logf("longest time to decision: %s", worst)
}

// measureOne runs the detection, then for a machine the wait for the
// beep, as the engine does.
func measureOne(pcm []int16) (AMDResult, time.Duration, bool) {
	a := NewAMD(AMDConfig{})
	i := 0
	for ; i+frameSamples <= len(pcm); i += frameSamples {
		if a.Feed(pcm[i:i+frameSamples]).Verdict != AnsweredPending {
			i += frameSamples
			break
		}
	}
	res := a.Result()
	if res.Verdict != AnsweredMachine {
		return res, 0, false
	}
	w := NewBeepWait(beepWaitSilence, res.Beep)
	for ; i+frameSamples <= len(pcm); i += frameSamples {
		if ready, beep := w.Feed(pcm[i : i+frameSamples]); ready {
			return res, time.Duration(i+frameSamples) * time.Second / 8000, beep
		}
	}
	return res, 0, false
}

// throughPCMU passes audio through PCMU, as it reaches us on a call.
func throughPCMU(pcm []int16) []int16 {
	out := make([]int16, 0, len(pcm))
	payload := make([]byte, frameSamples)
	frame := make([]int16, frameSamples)
	for i := 0; i < len(pcm); i += frameSamples {
		clear(frame)
		copy(frame, pcm[i:])
		encode(PCMU, payload, frame)
		out = append(out, Decode(PCMU, payload)...)
	}
	return out
}

func dur(pcm []int16) time.Duration {
	return (time.Duration(len(pcm)) * time.Second / 8000).Round(10 * time.Millisecond)
}

func mean(total time.Duration, n int) time.Duration {
	if n == 0 {
		return 0
	}
	return (total / time.Duration(n)).Round(10 * time.Millisecond)
}
