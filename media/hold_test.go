package media_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/media"
)

// toneLevel is the amplitude of the freq component of pcm (8 kHz), by
// the Goertzel algorithm.
func toneLevel(pcm []int16, freq float64) float64 {
	w := 2 * math.Pi * freq / 8000
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range pcm {
		s1, s2 = float64(x)+c*s1-s2, s1
	}
	return 2 * math.Sqrt(s1*s1+s2*s2-c*s1*s2) / float64(len(pcm))
}

func TestRingbackCadence(t *testing.T) {
	r := media.Ringback()
	if len(r) != 6*8000 {
		t.Fatalf("a cycle of %d samples, want 6 s", len(r))
	}
	on, off := r[:2*8000], r[2*8000:]
	if audio.RMS(off) != 0 {
		t.Error("the 4 s after the tone are not silence")
	}
	l440, l480, l1k := toneLevel(on, 440), toneLevel(on, 480), toneLevel(on, 1000)
	if l440 < 2000 || l480 < 2000 || l1k > 50 {
		t.Errorf("tone levels: 440 Hz %.0f, 480 Hz %.0f, 1 kHz %.0f", l440, l480, l1k)
	}
}

// holdHeard holds call c1 with audioURL and returns a second of what the
// far side hears, decoded, after checking it is one paced talkspurt.
func holdHeard(t *testing.T, audioURL string) []int16 {
	t.Helper()
	e := newEngine(t, 300*time.Millisecond) // a recording is a 300 ms 1 kHz tone
	far, local := udp(t), udp(t)
	e.Open("c1", local, media.Params{Remote: addr(far), PayloadType: 0, Codec: media.PCMU, TelephoneEvent: -1, Send: true})
	defer e.Close("c1")
	stop, err := e.Hold(context.Background(), "c1", audioURL)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	start := time.Now()
	pkts := readPackets(t, far, 60, 3*time.Second)
	if len(pkts) != 60 {
		t.Fatalf("%d packets of hold audio", len(pkts))
	}
	if d := time.Since(start); d < 1100*time.Millisecond {
		t.Errorf("60 frames arrived in %s: not paced", d)
	}
	var pcm []int16
	for i, p := range pkts {
		if i > 0 && (p.Marker || p.SequenceNumber != pkts[i-1].SequenceNumber+1 || p.Timestamp != pkts[i-1].Timestamp+160) {
			t.Fatalf("packet %d breaks the talkspurt: marker %t seq %d ts %d", i, p.Marker, p.SequenceNumber, p.Timestamp)
		}
		pcm = append(pcm, media.Decode(media.PCMU, p.Payload)...)
	}
	return pcm[10*160:] // after the first 200 ms: the recording has been read
}

func TestHoldPlaysRingback(t *testing.T) {
	t.Parallel()
	pcm := holdHeard(t, "")
	if l440, l480, l1k := toneLevel(pcm, 440), toneLevel(pcm, 480), toneLevel(pcm, 1000); l440 < 1500 || l480 < 1500 || l1k > 100 {
		t.Errorf("hold without audio: 440 Hz %.0f, 480 Hz %.0f, 1 kHz %.0f; want ringback", l440, l480, l1k)
	}
}

func TestHoldLoopsRecording(t *testing.T) {
	t.Parallel()
	pcm := holdHeard(t, "https://example.com/hold.wav")
	if l440, l1k := toneLevel(pcm, 440), toneLevel(pcm, 1000); l1k < 3000 || l440 > 100 {
		t.Errorf("hold with a recording: 1 kHz %.0f, 440 Hz %.0f; want the recording", l1k, l440)
	}
	// 800 ms of a 300 ms recording: it looped, without a gap.
	for i := 0; i+160 <= len(pcm); i += 160 {
		if r := audio.RMS(pcm[i : i+160]); r < 2000 {
			t.Fatalf("frame %d of the looped recording is quiet (rms %.0f)", i/160, r)
		}
	}
}

// failingSpeech cannot render anything: a recording that cannot be read.
type failingSpeech struct{}

func (failingSpeech) Render(context.Context, core.Utterance) ([]int16, error) {
	return nil, errors.New("not a WAV")
}

// TestHoldRingbackWhenRecordingFails: hold audio that cannot be played
// leaves the caller with ringback, not silence.
func TestHoldRingbackWhenRecordingFails(t *testing.T) {
	t.Parallel()
	e := media.NewEngine(media.Config{Speech: failingSpeech{}, KeepaliveInterval: -1})
	far, local := udp(t), udp(t)
	e.Open("c1", local, media.Params{Remote: addr(far), PayloadType: 0, Codec: media.PCMU, TelephoneEvent: -1, Send: true})
	defer e.Close("c1")
	stop, err := e.Hold(context.Background(), "c1", "https://example.com/broken.wav")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var pcm []int16
	for _, p := range readPackets(t, far, 25, 2*time.Second) {
		pcm = append(pcm, media.Decode(media.PCMU, p.Payload)...)
	}
	if l440, l480 := toneLevel(pcm, 440), toneLevel(pcm, 480); l440 < 1500 || l480 < 1500 {
		t.Errorf("hold with a broken recording: 440 Hz %.0f, 480 Hz %.0f; want ringback", l440, l480)
	}
}
