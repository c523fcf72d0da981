package media_test

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/media"
)

// ears records what the engine hands on.
type ears struct {
	mu         sync.Mutex
	utterances [][]int16
	digits     []string
	got        chan struct{}
}

func newEars() *ears { return &ears{got: make(chan struct{}, 100)} }

func (e *ears) CallerSpoke(ctx context.Context, callID string, pcm []int16, start, end time.Time) {
	e.mu.Lock()
	e.utterances = append(e.utterances, pcm)
	e.mu.Unlock()
	e.got <- struct{}{}
}

func (e *ears) DigitPressed(ctx context.Context, callID, digit, source string) {
	e.mu.Lock()
	e.digits = append(e.digits, digit+"/"+source)
	e.mu.Unlock()
	e.got <- struct{}{}
}

func (e *ears) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-e.got:
		case <-time.After(10 * time.Second):
			t.Fatal("nothing handed on")
		}
	}
}

func espeak(t testing.TB, text string) []int16 {
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

// sendRTP sends pcm as PCMU packets, paced 20 ms apart, from far.
func sendRTP(t testing.TB, far *net.UDPConn, to *net.UDPAddr, pcm []int16, seq *uint16, ts *uint32) {
	t.Helper()
	payload := make([]byte, 160)
	for i := 0; i+160 <= len(pcm); i += 160 {
		for j := range 160 {
			payload[j] = ulaw(pcm[i+j])
		}
		*seq++
		*ts += 160
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: *seq, Timestamp: *ts, SSRC: 7}, Payload: payload}
		b, _ := p.Marshal()
		if _, err := far.WriteToUDP(b, to); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // pacing a sender, not synchronisation
	}
}

// ulaw encodes one sample (G.711 mu-law), as a phone would.
func ulaw(s int16) byte {
	const bias, clip = 0x84, 32635
	sign := byte(0)
	v := int(s)
	if v < 0 {
		v, sign = -v, 0x80
	}
	v = min(v, clip) + bias
	exp := byte(7)
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := byte(v>>(exp+3)) & 0x0f
	return ^(sign | exp<<4 | mant)
}

// The caller's speech, sent as RTP, is handed on as one utterance once the
// packets stop; RFC 4733 keys are handed on once each; and talking over
// the server stops what it says (barge-in).
func TestHearingAndBargeIn(t *testing.T) {
	h := newEars()
	e := media.NewEngine(media.Config{Speech: toneSpeech{10 * time.Second}, KeepaliveInterval: -1, Hearing: h})
	far, local := udp(t), udp(t)
	e.Open("c1", local, media.Params{Remote: addr(far), PayloadType: 0, Codec: media.PCMU, TelephoneEvent: 101, Send: true})
	defer e.Close("c1")
	to := local.LocalAddr().(*net.UDPAddr)

	// Synthesised before the message starts: espeak-ng on a loaded
	// machine took seconds, which counted as the message playing on.
	talk := espeak(t, "I want to talk to a human")
	said := make(chan error, 1)
	start := time.Now()
	go func() {
		said <- e.Say(context.Background(), "c1", core.Utterance{Text: "a long message", BargeIn: true})
	}()
	// The caller starts talking once the message is under way.
	if got := readPackets(t, far, 10, 5*time.Second); len(got) < 10 {
		t.Fatalf("the message did not start: %d packets", len(got))
	}
	var seq uint16
	var ts uint32
	sendRTP(t, far, to, talk, &seq, &ts)
	select {
	case err := <-said:
		if err != nil {
			t.Fatalf("barged-in say: %v", err)
		}
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("the 10 s message played %s: not stopped", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("say did not return")
	}
	h.wait(t, 1)

	// RFC 4733: event 5, three end packets of one event, then #.
	for _, ev := range []struct {
		code byte
		ts   uint32
	}{{5, 1000}, {5, 1000}, {5, 1000}, {11, 2000}} {
		seq++
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: seq, Timestamp: ev.ts, SSRC: 7},
			Payload: []byte{ev.code, 0x80 | 10, 0x03, 0x20}}
		b, _ := p.Marshal()
		if _, err := far.WriteToUDP(b, to); err != nil {
			t.Fatal(err)
		}
	}
	h.wait(t, 2)
	if !e.Digit("c1", "7", "sip-info") {
		t.Fatal("SIP INFO key refused")
	}
	h.wait(t, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.utterances) != 1 || len(h.utterances[0]) < 8000 {
		t.Fatalf("%d utterances", len(h.utterances))
	}
	if strings.Join(h.digits, " ") != "5/rfc4733 #/rfc4733 7/sip-info" {
		t.Fatalf("keys %v", h.digits)
	}
	if e.Digit("nope", "1", "sip-info") {
		t.Error("a key for a call without media was taken")
	}
}
