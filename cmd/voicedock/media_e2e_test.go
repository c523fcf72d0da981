//go:build linux

package main

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/pion/rtp"
	"golang.org/x/sys/unix"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/media"
	"github.com/voicedock/voicedock/sip/sipptest"
	"github.com/voicedock/voicedock/speech"
)

// The texts the server says in these tests.
const (
	greeting    = "Thank you for calling the front desk."
	salesNotice = "Connecting you to sales."
)

// rtpEar is the caller's RTP socket: it keeps every packet the server
// sends, with the time it arrived.
type rtpEar struct {
	conn    *net.UDPConn
	mu      sync.Mutex
	pkts    []heard
	changed chan struct{} // closed on the next packet; nil until waited on
	done    chan struct{}
}

type heard struct {
	at   time.Time
	from netip.AddrPort
	pkt  rtp.Packet
}

func listenRTP(t *testing.T) *rtpEar {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	// The kernel stamps each packet as it arrives: the reading goroutine
	// may run late on a busy machine, and the order of the last packet and
	// the REFER is what the test is about.
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		t.Fatalf("SO_TIMESTAMPNS: %v %v", err, serr)
	}
	e := &rtpEar{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		buf, oob := make([]byte, 1500), make([]byte, 128)
		for {
			n, oobn, _, from, err := conn.ReadMsgUDPAddrPort(buf, oob)
			if err != nil {
				return
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:n]) != nil {
				continue
			}
			p.Payload = append([]byte(nil), p.Payload...)
			e.mu.Lock()
			e.pkts = append(e.pkts, heard{arrival(oob[:oobn]), netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), p})
			if e.changed != nil {
				close(e.changed)
				e.changed = nil
			}
			e.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close(); <-e.done })
	return e
}

// arrival is the kernel's receive time of a packet, from its SCM_TIMESTAMPNS.
func arrival(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
				ts := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
				return time.Unix(ts.Unix())
			}
		}
	}
	return time.Now()
}

func (e *rtpEar) port() string { return strconv.Itoa(e.conn.LocalAddr().(*net.UDPAddr).Port) }

// spurt is one run of packets the server sent without a pause: a
// message, or a keepalive packet.
type spurt struct {
	first, last time.Time
	packets     int
	pcm         []int16
}

func (s spurt) duration() time.Duration { return time.Duration(s.packets) * 20 * time.Millisecond }

// spurts returns the runs of at least minPackets, checking the RTP
// framing on the way: one SSRC, sequence numbers one apart, timestamps
// 160 apart within a run.
func (e *rtpEar) spurts(t *testing.T, minPackets int) []spurt {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []spurt
	var cur *spurt
	flush := func() {
		if cur != nil && cur.packets >= minPackets {
			out = append(out, *cur)
		}
		cur = nil
	}
	for i, h := range e.pkts {
		p := h.pkt
		if p.SSRC != e.pkts[0].pkt.SSRC || len(p.Payload) != 160 {
			t.Fatalf("packet %d: ssrc %x, %d bytes", i, p.SSRC, len(p.Payload))
		}
		if i > 0 && p.SequenceNumber != e.pkts[i-1].pkt.SequenceNumber+1 {
			t.Fatalf("packet %d: seq %d after %d", i, p.SequenceNumber, e.pkts[i-1].pkt.SequenceNumber)
		}
		if p.Marker || cur == nil {
			flush()
			cur = &spurt{first: h.at}
		} else if p.Timestamp != e.pkts[i-1].pkt.Timestamp+160 {
			t.Fatalf("packet %d: timestamp %d after %d within a talkspurt", i, p.Timestamp, e.pkts[i-1].pkt.Timestamp)
		}
		codec := media.PCMU
		if p.PayloadType == 8 {
			codec = media.PCMA
		}
		cur.pcm = append(cur.pcm, media.Decode(codec, p.Payload)...)
		cur.packets++
		cur.last = h.at
	}
	flush()
	return out
}

// synthesised is how long espeak-ng says text, as the server renders it.
func synthesised(t *testing.T, text string) time.Duration {
	t.Helper()
	p, err := (&speech.ESpeak{}).Synthesize(context.Background(), text, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return p.Duration()
}

// checkSaid checks that a talkspurt is text, spoken: as long as the
// synthesised audio (within 10%) and not silence.
func checkSaid(t *testing.T, s spurt, text string) {
	t.Helper()
	want := synthesised(t, text)
	if d := s.duration(); d < want*9/10 || d > want*11/10 {
		t.Errorf("%q: %s of audio arrived, synthesised %s", text, d, want)
	}
	if r := audio.RMS(s.pcm); r < 300 {
		t.Errorf("%q: the audio is silence (rms %.0f)", text, r)
	}
}

func needESpeak(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Fatalf("espeak-ng is not installed (scripts/test.sh installs it): %v", err)
	}
}

// newSpeakingLine is newPhoneLine with an assistant that greets callers.
func newSpeakingLine(t *testing.T, targetPort int) *phoneLine {
	t.Helper()
	c, logs := stdioServerVersion(t, "2025-11-25", t.TempDir())
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	a := mustCall(t, c, "create_assistant", `{"name":"Front desk","first_message":"`+greeting+`","llm_config":{"tools":[{"type":"transfer_call","destinations":[
		{"type":"number","number":"`+salesNumber+`","description":"sales","message":"`+salesNotice+`"}]}]}}`)
	tr := mustCall(t, c, "configure_trunk", `{"name":"PBX","host":"127.0.0.1","port":`+strconv.Itoa(targetPort)+`}`)
	mustCall(t, c, "create_phone_number", `{"phone_number":"`+ourNumber+`","assistant_id":"`+field(a, "assistant", "id")+`","transfer_trunk_id":"`+field(tr, "trunk", "id")+`"}`)
	return line
}

// The caller hears the first message on answer, then the destination's
// message, all of it, before the REFER goes.
func TestMessagesPlayedBeforeRefer(t *testing.T) {
	t.Parallel()
	needESpeak(t)
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "100")
	line := newSpeakingLine(t, target.Port())
	ear := listenRTP(t)
	caller := sipptest.Start(t, "uac_media_transfer.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser, "-set", "rtpport", ear.port())
	callID := line.answered(t)

	res, steps := transfer(t, line.c, callID, salesNumber)
	if res.isError {
		t.Fatalf("transfer: %s", res.text)
	}
	checkProgress(t, steps, "completed", line.logs)
	caller.Wait(t)
	target.Wait(t)

	got := mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`)
	tr := got.structured["call"].(map[string]any)["transfers"].([]any)[0].(map[string]any)
	// The first step after "requested" (accepted, or trying when the
	// NOTIFY overtook the 202) is an answer to the REFER.
	var accepted time.Time
	for _, s := range tr["steps"].([]any) {
		if st := s.(map[string]any); st["status"] != "requested" && accepted.IsZero() {
			accepted, _ = time.Parse(time.RFC3339Nano, st["at"].(string))
		}
	}
	if accepted.IsZero() {
		t.Fatalf("no answer to the REFER on record: %v", tr)
	}
	said := ear.spurts(t, 10)
	for i, s := range said {
		t.Logf("message %d: %s, %d packets, rms %.0f", i, s.duration(), s.packets, audio.RMS(s.pcm))
	}
	if len(said) != 2 {
		t.Fatalf("heard %d messages, want the greeting and the transfer's", len(said))
	}
	checkSaid(t, said[0], greeting)
	checkSaid(t, said[1], salesNotice)
	// Steps are stored to the millisecond, truncated.
	if !said[1].last.Before(accepted.Add(time.Millisecond)) {
		t.Errorf("the message's last packet arrived at %s, after the REFER was answered at %s", said[1].last.Format(time.StampMicro), accepted.Format(time.StampMicro))
	}
}

// say_call and control_call's say are heard in full; end_call's message
// is played before the BYE; inject-context is unsupported.
func TestSayAndGoodbye(t *testing.T) {
	t.Parallel()
	needESpeak(t)
	line := newSpeakingLine(t, sipptest.FreePort(t))
	ear := listenRTP(t)
	caller := sipptest.Start(t, "uac_media_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser, "-set", "rtpport", ear.port())
	callID := line.answered(t)

	const news, more, bye = "Your order has shipped.", "It arrives on Tuesday.", "Goodbye and thank you."
	r := mustCall(t, line.c, "say_call", `{"call_id":"`+callID+`","message":"`+news+`"}`)
	if field(r, "call", "status") != "in-progress" {
		t.Fatalf("say_call: %s", r.json)
	}
	mustCall(t, line.c, "control_call", `{"call_id":"`+callID+`","command":{"type":"say","content":"`+more+`","end_after":false}}`)
	if r := call(t, line.c, "control_call", `{"call_id":"`+callID+`","command":{"type":"inject-context","content":"code 1234","trigger_response":false}}`); r.errorCode() != "unsupported" {
		t.Errorf("inject-context: %s", r.text)
	}
	if r := call(t, line.c, "control_call", `{"call_id":"`+callID+`","command":{"type":"say","content":"x"}}`); r.errorCode() != "missing_field" || r.errorParam() != "command.end_after" {
		t.Errorf("say without end_after: %s", r.text)
	}
	if r := call(t, line.c, "control_call", `{"call_id":"`+callID+`","command":{"type":"transfer","destination":"0612"}}`); r.errorCode() != "invalid_request" || r.errorParam() != "command.destination" {
		t.Errorf("transfer to a bad destination: %s", r.text)
	}
	if r := call(t, line.c, "control_call", `{"call_id":"`+callID+`","command":{"type":"dance"}}`); r.errorCode() != "invalid_request" {
		t.Errorf("unknown command: %s", r.text)
	}
	ended := mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`","message":"`+bye+`"}`)
	if field(ended, "call", "status") != "ended" {
		t.Fatalf("end_call: %s", ended.json)
	}
	caller.Wait(t)

	said := ear.spurts(t, 10)
	if len(said) != 4 {
		t.Fatalf("heard %d messages, want greeting, two sayings and goodbye", len(said))
	}
	checkSaid(t, said[0], greeting)
	checkSaid(t, said[1], news)
	checkSaid(t, said[2], more)
	checkSaid(t, said[3], bye)
	if r := call(t, line.c, "say_call", `{"call_id":"`+callID+`","message":"hello?"}`); r.errorCode() != "call_not_active" {
		t.Errorf("say_call on an ended call: %s", r.text)
	}
}

// count is the number of packets heard so far.
func (e *rtpEar) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.pkts)
}

// A caller who puts the server on hold (a=sendonly) hears nothing, not
// even keepalives, until the call ends: the media follows the direction.
func TestHoldStopsMedia(t *testing.T) {
	// Not parallel: sipp sends its re-INVITE right behind its ACK, and a
	// server slowed by other tests may take the re-INVITE first and
	// answer it 491, which the scenario does not retry.
	needESpeak(t)
	line := newPhoneLine(t, sipptest.FreePort(t), "VOICEDOCK_RTP_KEEPALIVE=200ms")
	ear := listenRTP(t)
	caller := sipptest.Start(t, "uac_media_hold.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser, "-set", "rtpport", ear.port())
	callID := line.answered(t)
	line.logs.waitFor(t, regexp.MustCompile(`msg="re-INVITE answered".* call_id=`+regexp.QuoteMeta(callID)), 0, 30*time.Second)
	before := ear.count()
	mustCall(t, line.c, "say_call", `{"call_id":"`+callID+`","message":"Are you still there?"}`)
	if n := ear.count() - before; n != 0 {
		t.Errorf("%d packets sent to a caller who holds the call", n)
	}
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
}

// A caller who hangs up while the transfer's message plays ends the call:
// the transfer is canceled and no REFER is sent.
func TestHangupDuringTransferMessage(t *testing.T) {
	t.Parallel()
	needESpeak(t)
	const long = "Please hold on while I connect you to our sales team. They will be with you in just a moment. Thank you for your patience."
	c, logs := stdioServerVersion(t, "2025-11-25", t.TempDir())
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	a := mustCall(t, c, "create_assistant", `{"name":"Front desk","llm_config":{"tools":[{"type":"transfer_call","destinations":[
		{"type":"number","number":"`+salesNumber+`","description":"sales","message":"`+long+`"}]}]}}`)
	tr := mustCall(t, c, "configure_trunk", `{"name":"PBX","host":"127.0.0.1","port":`+strconv.Itoa(sipptest.FreePort(t))+`}`)
	mustCall(t, c, "create_phone_number", `{"phone_number":"`+ourNumber+`","assistant_id":"`+field(a, "assistant", "id")+`","transfer_trunk_id":"`+field(tr, "trunk", "id")+`"}`)
	if d := synthesised(t, long); d < 5*time.Second {
		t.Fatalf("the message lasts %s; the caller hangs up 2 s in, which must be during it", d)
	}
	// The caller hangs up 2 s after the answer, in the middle of the message.
	caller := sipptest.Start(t, "uac_call_hangup.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser, "-d", "2000")
	callID := line.answered(t)
	res, _ := transfer(t, line.c, callID, salesNumber)
	if res.errorCode() != "call_not_active" {
		t.Fatalf("transfer whose caller hung up during the message: %s", res.text)
	}
	caller.Wait(t)
	got := mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`)
	if tr := got.structured["call"].(map[string]any)["transfers"].([]any)[0].(map[string]any); tr["status"] != "canceled" {
		t.Errorf("transfer on record: %v", tr)
	}
	if strings.Contains(logs.String(), `msg="REFER sent"`) {
		t.Errorf("a REFER was sent after the caller hung up:\n%s", logs.String())
	}
}

// An outbound call create_call places has media too: say_call is heard
// at the address of the far end's SDP answer, in the codec it chose.
func TestOutboundCallSpeaks(t *testing.T) {
	t.Parallel()
	needESpeak(t)
	ear := listenRTP(t)
	far := sipptest.Start(t, "uas_media_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "100", "-set", "rtpport", ear.port())
	c, logs := stdioServerVersion(t, "2025-11-25", t.TempDir())
	logs.waitFor(t, sipListening, 0, 20*time.Second)
	tr := mustCall(t, c, "configure_trunk", `{"name":"Carrier","host":"127.0.0.1","port":`+strconv.Itoa(far.Port())+`}`)
	n := mustCall(t, c, "create_phone_number", `{"phone_number":"`+ourNumber+`","transfer_trunk_id":"`+field(tr, "trunk", "id")+`"}`)
	placed := mustCall(t, c, "create_call", `{"number_id":"`+field(n, "number", "id")+`","destination":"`+salesNumber+`"}`)
	callID := field(placed, "call", "id")
	const text = "This is a reminder of your appointment tomorrow."
	mustCall(t, c, "say_call", `{"call_id":"`+callID+`","message":"`+text+`","end_after":true}`)
	far.Wait(t)
	said := ear.spurts(t, 10)
	if len(said) != 1 {
		t.Fatalf("heard %d messages, want 1", len(said))
	}
	checkSaid(t, said[0], text)
	ear.mu.Lock()
	pt := ear.pkts[len(ear.pkts)-1].pkt.PayloadType
	ear.mu.Unlock()
	if pt != 0 {
		t.Errorf("payload type %d; the answer chose PCMU (0)", pt)
	}
}

// Without espeak-ng the server starts, answers and transfers calls, warns
// once, and what it is asked to say is unavailable, with the call left up.
func TestWithoutESpeak(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "100")
	line := newPhoneLine(t, target.Port(), "PATH="+t.TempDir())
	if !strings.Contains(line.logs.String(), "espeak-ng is not installed") {
		t.Errorf("no warning at start:\n%s", line.logs.String())
	}
	caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	r := call(t, line.c, "say_call", `{"call_id":"`+callID+`","message":"hello"}`)
	if r.errorCode() != "unavailable" || !strings.Contains(r.text, "espeak-ng is not installed") {
		t.Fatalf("say_call without espeak-ng: %s", r.text)
	}
	if r := call(t, line.c, "end_call", `{"call_id":"`+callID+`","message":"bye"}`); r.errorCode() != "unavailable" {
		t.Fatalf("end_call with a message without espeak-ng: %s", r.text)
	}
	// The destination's message cannot be said: the transfer goes ahead.
	res, _ := transfer(t, line.c, callID, salesNumber)
	if res.isError {
		t.Fatalf("transfer without espeak-ng: %s", res.text)
	}
	caller.Wait(t)
	target.Wait(t)
}
