package media_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/media"
	"github.com/voicedock/voicedock/speech"
)

// transcribing hands each utterance to speech-to-text and reports when
// its text is ready.
type transcribing struct {
	stt  core.Transcriber
	done chan string
}

func (h transcribing) CallerSpoke(ctx context.Context, callID string, pcm []int16, start, end time.Time) {
	text, _ := h.stt.Transcribe(ctx, pcm, "")
	h.done <- text
}

func (transcribing) DigitPressed(context.Context, string, string, string) {}

// BenchmarkEndOfUtteranceToText is the latency from the caller's last
// packet of speech to its text: the voice activity detection's hangover
// plus the local engine's run (PocketSphinx), over real RTP. The speech
// itself is sent in real time before the clock starts.
func BenchmarkEndOfUtteranceToText(b *testing.B) {
	ps := &speech.PocketSphinx{}
	if !ps.Available() {
		b.Fatal("pocketsphinx is not installed (scripts/test.sh installs it)")
	}
	pcm := espeak(b, "I want to talk to a human")
	h := transcribing{stt: speech.NewListener(ps, time.Minute), done: make(chan string, 1)}
	e := media.NewEngine(media.Config{Speech: toneSpeech{time.Second}, KeepaliveInterval: -1, Hearing: h})
	far, local := udp(b), udp(b)
	e.Open("c1", local, media.Params{Remote: addr(far), PayloadType: 0, Codec: media.PCMU, TelephoneEvent: 101, Send: true})
	defer e.Close("c1")
	to := local.LocalAddr().(*net.UDPAddr)
	var seq uint16
	var ts uint32
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		sendRTP(b, far, to, pcm, &seq, &ts)
		last := time.Now()
		b.StartTimer()
		text := <-h.done
		total += time.Since(last)
		b.Logf("heard %q", text)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/utterance")
}
