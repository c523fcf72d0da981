package speech_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/speech"
)

// werSentences are what the word error rate is measured on: short
// requests a caller makes.
var werSentences = []string{
	"I want to talk to a human",
	"please transfer me to sales",
	"what are your opening hours",
	"my order has not arrived",
	"can I speak to someone in billing",
	"yes that is correct",
}

// spoken renders text with espeak-ng as a caller would sound: 8 kHz.
func spoken(t testing.TB, text string) []int16 {
	t.Helper()
	p, err := (&speech.ESpeak{}).Synthesize(context.Background(), text, "en-us", 0)
	if err != nil {
		t.Fatalf("espeak-ng (scripts/test.sh installs it): %v", err)
	}
	return p.Samples
}

func needSphinx(t testing.TB) *speech.PocketSphinx {
	t.Helper()
	ps := &speech.PocketSphinx{}
	if !ps.Available() {
		t.Fatal("pocketsphinx is not installed (scripts/test.sh installs pocketsphinx and pocketsphinx-en-us)")
	}
	return ps
}

// wordErrors is the word-level edit distance between what was said and
// what was heard (substitutions, insertions and deletions).
func wordErrors(ref, hyp string) int {
	r, h := strings.Fields(strings.ToLower(ref)), strings.Fields(strings.ToLower(hyp))
	prev := make([]int, len(h)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(r); i++ {
		cur := make([]int, len(h)+1)
		cur[0] = i
		for j := 1; j <= len(h); j++ {
			sub := prev[j-1]
			if r[i-1] != h[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev = cur
	}
	return prev[len(h)]
}

func TestWordErrors(t *testing.T) {
	for _, c := range []struct {
		ref, hyp string
		want     int
	}{
		{"a b c", "a b c", 0}, {"a b c", "a x c", 1}, {"a b c", "a c", 1}, {"a b c", "a b c d", 1}, {"a b", "", 2},
	} {
		if got := wordErrors(c.ref, c.hyp); got != c.want {
			t.Errorf("wordErrors(%q, %q) = %d, want %d", c.ref, c.hyp, got, c.want)
		}
	}
}

// The local engine turns telephone-quality speech into words. Its word
// error rate on espeak-ng's voice is measured and printed (it is a
// default that works offline, not a promise of accuracy: on espeak-ng's
// synthetic voice band-limited to the telephone's 8 kHz it is poor). The
// test fails only when the engine hears no words at all.
func TestPocketSphinxWordErrorRate(t *testing.T) {
	ps := needSphinx(t)
	words, errors, heard := 0, 0, 0
	for _, s := range werSentences {
		got, err := ps.Recognize(context.Background(), spoken(t, s), "en")
		if err != nil {
			t.Fatal(err)
		}
		e := wordErrors(s, got)
		words += len(strings.Fields(s))
		errors += e
		heard += len(strings.Fields(got))
		t.Logf("said %q, heard %q: %d errors", s, got, e)
	}
	wer := float64(errors) / float64(words)
	t.Logf("pocketsphinx word error rate on %d espeak-ng sentences (8 kHz): %.0f%% (%d errors in %d words)", len(werSentences), 100*wer, errors, words)
	if heard == 0 {
		t.Fatal("the engine heard no words in any sentence")
	}
}

// Latency from the end of an utterance to its text, with the local
// engine (each run starts the recogniser and loads its model).
func BenchmarkPocketSphinxLatency(b *testing.B) {
	ps := needSphinx(b)
	pcm := spoken(b, werSentences[0])
	l := speech.NewListener(ps, time.Minute)
	b.ResetTimer()
	for b.Loop() {
		if _, err := l.Transcribe(context.Background(), pcm, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// The OpenAI-compatible engine uploads a WAV with the model and
// stt_config.language, authenticated, and returns the service's text.
// The hosted service is paid, so a local server speaks its API.
func TestTranscriptionsEngine(t *testing.T) {
	pcm := spoken(t, "I want to talk to a human")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/audio/transcriptions" || r.Header.Get("Authorization") != "Bearer sk-test" {
			http.Error(w, "wrong request "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
			return
		}
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f, _, err := r.FormFile("file")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(f)
		p, err := audio.DecodeWAV(b, time.Minute)
		if err != nil || p.Rate != 8000 || len(p.Samples) != len(pcm) {
			http.Error(w, "bad audio", http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"text": " model=" + r.FormValue("model") + " language=" + r.FormValue("language") + " "})
	}))
	defer srv.Close()
	l := speech.NewListener(&speech.Transcriptions{BaseURL: srv.URL + "/v1", APIKey: "sk-test"}, 0)
	got, err := l.Transcribe(context.Background(), pcm, "nl")
	if err != nil {
		t.Fatal(err)
	}
	if got != "model=whisper-1 language=nl" {
		t.Fatalf("heard %q", got)
	}

	// A refusal is unavailable, with the service's words.
	bad := speech.NewListener(&speech.Transcriptions{BaseURL: srv.URL + "/v1", APIKey: "wrong"}, 0)
	if _, err := bad.Transcribe(context.Background(), pcm, ""); !core.HasCode(err, core.CodeUnavailable) || !strings.Contains(err.Error(), "wrong request") {
		t.Fatalf("refused: %v", err)
	}
}

func TestPocketSphinxMissing(t *testing.T) {
	ps := &speech.PocketSphinx{Path: "/nonexistent/pocketsphinx_continuous"}
	if ps.Available() {
		t.Fatal("available without the program")
	}
	if _, err := ps.Recognize(context.Background(), make([]int16, 8000), ""); !core.HasCode(err, core.CodeUnavailable) {
		t.Fatalf("err = %v", err)
	}
}
