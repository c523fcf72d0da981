package sip

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/voicedock/voicedock/core"
)

// refusingHandler is the core as a stranger meets it: every INVITE is
// refused 403 and nothing is kept; reports are counted, not queued.
type refusingHandler struct {
	mu       sync.Mutex
	offers   int
	progress int
	ended    int
}

func (h *refusingHandler) OfferCall(context.Context, core.InboundInvite) core.OfferDecision {
	h.mu.Lock()
	h.offers++
	h.mu.Unlock()
	return core.OfferDecision{RejectStatus: 403, RejectReason: "Forbidden"}
}
func (h *refusingHandler) CallAnswered(context.Context, string) {}
func (h *refusingHandler) CallEnded(context.Context, string, string) {
	h.mu.Lock()
	h.ended++
	h.mu.Unlock()
}
func (h *refusingHandler) TransferProgress(_ context.Context, _ string, ps ...core.ReferProgress) {
	h.mu.Lock()
	h.progress += len(ps)
	h.mu.Unlock()
}

// recordingTx is a server transaction that records the responses sent in
// it and sends nothing.
type recordingTx struct {
	mu        sync.Mutex
	responses []*sip.Response
	done      chan struct{}
	acks      chan *sip.Request
}

func newRecordingTx() *recordingTx {
	return &recordingTx{done: make(chan struct{}), acks: make(chan *sip.Request)}
}

func (tx *recordingTx) Terminate()                         {}
func (tx *recordingTx) OnTerminate(sip.FnTxTerminate) bool { return true }
func (tx *recordingTx) Done() <-chan struct{}              { return tx.done }
func (tx *recordingTx) Err() error                         { return nil }
func (tx *recordingTx) Acks() <-chan *sip.Request          { return tx.acks }
func (tx *recordingTx) OnCancel(f sip.FnTxCancel) bool     { return true }

func (tx *recordingTx) Respond(res *sip.Response) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.responses = append(tx.responses, res)
	return nil
}

// snapshot is the statuses sent so far and how many were final.
func (tx *recordingTx) snapshot() (all []int, finals int) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	for _, r := range tx.responses {
		all = append(all, r.StatusCode)
		if r.StatusCode >= 200 {
			finals++
		}
	}
	return all, finals
}

// Dialogs the fuzzed messages can name: one live answered call and one
// that ended a moment ago.
const (
	fuzzLiveCallID  = "fuzz-live"
	fuzzEndedCallID = "fuzz-ended"
	fuzzOurTag      = "ourtag"
)

// FuzzSIPMessage feeds bytes as a datagram from a stranger arrives: through
// the inbound filter, sipgo's parser and, when they make a request, the
// UA's handlers as sipgo calls them (routes, guard), in a transaction that
// records the responses. The core refuses every INVITE with 403, as it
// does an unknown source: an accepted call would be answered and, lacking
// an ACK, sent a BYE at whatever address the bytes name. A live answered
// call and a recently ended one give in-dialog requests (re-INVITE, BYE,
// NOTIFY, INFO...) a dialog to reach. Nothing may panic (guard recovers
// and counts), every response has a status in 100-699, every request but
// ACK gets exactly one final response, and no call is created.
func FuzzSIPMessage(f *testing.F) {
	dst := "127.0.0.1:5060"
	src := "127.0.0.1:5099"
	inDialog := func(method, callID, extra, body string) string {
		return method + " sip:100@" + dst + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + src + ";branch=z9hG4bK-" + method + "\r\n" +
			"From: <sip:+15550100001@" + src + ">;tag=theirs\r\n" +
			"To: <sip:100@" + dst + ">;tag=" + fuzzOurTag + "\r\n" +
			"Call-ID: " + callID + "\r\nCSeq: 7 " + method + "\r\n" + extra +
			"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	sdp := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"
	for _, seed := range []string{
		rawRequest("INVITE", dst, src, "seed-invite", "User-Agent: Asterisk", "Content-Type: application/sdp"),
		rawRequest("OPTIONS", dst, src, "seed-options"),
		rawRequest("REGISTER", dst, src, "seed-register"),
		rawRequest("CANCEL", dst, src, "seed-cancel"),
		rawRequest("INVITE", dst, src, "seed-scanner", "User-Agent: friendly-scanner"),
		inDialog("INVITE", fuzzLiveCallID, "Content-Type: application/sdp\r\n", sdp),
		inDialog("NOTIFY", fuzzLiveCallID, "Event: refer\r\nSubscription-State: active\r\nContent-Type: message/sipfrag\r\n", "SIP/2.0 180 Ringing\r\n"),
		inDialog("NOTIFY", fuzzEndedCallID, "Event: refer;id=7\r\nContent-Type: message/sipfrag;version=2.0\r\n", "SIP/2.0 200 OK\r\n"),
		inDialog("INFO", fuzzLiveCallID, "Content-Type: application/dtmf-relay\r\n", "Signal=5\r\nDuration=160\r\n"),
		inDialog("REFER", fuzzLiveCallID, "Refer-To: <sip:x@127.0.0.1>\r\n", ""),
		inDialog("ACK", fuzzLiveCallID, "", ""),
		inDialog("BYE", fuzzEndedCallID, "", ""),
		inDialog("BYE", fuzzLiveCallID, "", ""),
		inDialog("UPDATE", "nosuchcall", "", ""),
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK5\r\nCSeq: 1 INVITE\r\n\r\n",
		"INVITE sip:1@127.0.0.1 SIP/2.0\r\n\r\n",
		"\x00\x01\x02\xff",
	} {
		f.Add([]byte(seed))
	}

	handler := &refusingHandler{}
	ua, logs := serveUA(f, handler, func(c *Config) { c.RateLimit = -1 })
	parser := sip.NewParser()
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5099}
	// The ended dialog is remembered for the whole run.
	ua.calls.mu.Lock()
	ua.calls.ended[dialogKey(fuzzEndedCallID, fuzzOurTag)] = "call-ended"
	ua.calls.mu.Unlock()

	// A live call's answered NOTIFY leaves without its transaction
	// (notify_tx.go); it is recorded with the input's other answers.
	var current atomic.Pointer[recordingTx]
	ua.writeResponse = func(res *sip.Response) error { return current.Load().Respond(res) }

	f.Fuzz(func(t *testing.T, data []byte) {
		logs.reset()
		live := liveFuzzCall(t, ua)
		out, err := ua.filter.read(sip.TransportReadProps{Transport: tpUDP, RemoteAddr: from, LocalAddr: from}, data)
		if err != nil || len(out) == 0 {
			return
		}
		msg, err := parser.ParseSIP(out)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		req.SetTransport(tpUDP)
		req.SetSource(src)
		tx := newRecordingTx()
		current.Store(tx)
		ua.handle(req, tx)

		if n := ua.Stats().Panics; n != 0 {
			t.Fatalf("a handler panicked on %q:\n%s", data, logs.String())
		}
		statuses, finals := tx.snapshot()
		for _, s := range statuses {
			if s < 100 || s > 699 {
				t.Fatalf("status %d answered to %q", s, data)
			}
		}
		if !req.IsAck() && finals != 1 {
			t.Fatalf("%d final responses (%v) to %q", finals, statuses, data)
		}
		if req.IsAck() && len(statuses) != 0 {
			t.Fatalf("an ACK was answered %v", statuses)
		}
		if n := ua.calls.count(); n > 1 || (n == 1 && ua.calls.get(live.id) != live) {
			t.Fatalf("%d calls after %q", n, data)
		}
	})
}

// liveFuzzCall returns the fuzz run's live answered call, registering a
// new one when a BYE ended the last.
func liveFuzzCall(t *testing.T, ua *UA) *call {
	if c := ua.calls.get("fuzz-live-call"); c != nil {
		return c
	}
	rtp, err := ua.ports.acquire()
	if err != nil {
		t.Fatal(err)
	}
	c := newCall("fuzz-live-call", true, tpUDP, stateAnswered)
	c.key = dialogKey(fuzzLiveCallID, fuzzOurTag)
	c.media = newMediaState(rtp)
	c.acked = true
	close(c.setupDone)
	if !ua.register(c) {
		t.Fatal("register the live call")
	}
	return c
}
