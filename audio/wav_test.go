package audio

import (
	"bytes"
	"math"
	"os/exec"
	"testing"
	"time"
)

func tone(rate int, hz float64, d time.Duration) PCM {
	n := int(d * time.Duration(rate) / time.Second)
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(8000 * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)))
	}
	return PCM{Rate: rate, Samples: s}
}

func TestWAVRoundTrip(t *testing.T) {
	p := tone(22050, 440, 500*time.Millisecond)
	got, err := DecodeWAV(EncodeWAV(p), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rate != 22050 || len(got.Samples) != len(p.Samples) || got.Samples[100] != p.Samples[100] {
		t.Fatalf("decoded %d Hz, %d samples", got.Rate, len(got.Samples))
	}
	if _, err := DecodeWAV(EncodeWAV(p), 100*time.Millisecond); err == nil {
		t.Fatal("a WAV over the length cap was accepted")
	}
}

func TestDecodeWAVRefuses(t *testing.T) {
	good := EncodeWAV(tone(8000, 440, 100*time.Millisecond))
	stereo24 := bytes.Clone(good)
	stereo24[34] = 12 // 12-bit samples
	for name, b := range map[string][]byte{
		"empty":        nil,
		"not riff":     []byte("RIFX0000WAVEfmt "),
		"no data":      good[:36],
		"odd bits":     stereo24,
		"fmt past end": append([]byte("RIFF\x00\x00\x00\x00WAVEfmt \xff\x00\x00\x00"), make([]byte, 20)...),
	} {
		if _, err := DecodeWAV(b, time.Minute); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// espeak-ng --stdout writes a streamed WAV whose data size is unknown.
func TestDecodeESpeakOutput(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Fatal("espeak-ng is not installed (scripts/test.sh installs it)")
	}
	out, err := exec.Command("espeak-ng", "--stdout", "Testing one two three").Output()
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecodeWAV(out, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rate != 22050 || p.Duration() < time.Second || RMS(p.Samples) < 500 {
		t.Fatalf("espeak-ng: %d Hz, %s, rms %.0f", p.Rate, p.Duration(), RMS(p.Samples))
	}
	p8 := p.To8k()
	if d := p8.Duration() - p.Duration(); d > time.Millisecond || d < -time.Millisecond {
		t.Fatalf("resampled %s to %s", p.Duration(), p8.Duration())
	}
}

func TestResampleKeepsInBandAndRemovesAliases(t *testing.T) {
	in := tone(24000, 1000, time.Second)
	out := Resample(in.Samples, 24000, 8000)
	if len(out) != 8000 {
		t.Fatalf("%d samples", len(out))
	}
	if r := RMS(out[100:7900]); r < 5000 || r > 6300 { // 8000/sqrt(2) = 5657
		t.Fatalf("a 1 kHz tone came out at rms %.0f", r)
	}
	// 7 kHz is above the 4 kHz Nyquist frequency of 8 kHz: it must not fold back to 1 kHz.
	hi := Resample(tone(24000, 7000, time.Second).Samples, 24000, 8000)
	if r := RMS(hi[100:7900]); r > 300 {
		t.Fatalf("a 7 kHz tone aliased at rms %.0f", r)
	}
}
