package media

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Params are what the SDP negotiation decided for a call's media.
type Params struct {
	// Remote is where the SDP says to send RTP; the zero value when it is
	// not an address (c=0.0.0.0, a host name). Once the far side's RTP
	// arrives we send to where it comes from instead (symmetric RTP).
	Remote netip.AddrPort
	// PayloadType and Codec (PCMU or PCMA) of the audio.
	PayloadType uint8
	Codec       string
	// TelephoneEvent is the payload type of RFC 4733 DTMF; -1 when none.
	TelephoneEvent int
	// Send is false while the negotiated direction lets us only receive
	// (recvonly, inactive: the far side holds the call).
	Send bool
}

// Stats count a session's packets.
type Stats struct {
	Sent, Received, DTMF int64
	// Dropped counts packets from a source not taken as the far side's
	// (see rtpSource).
	Dropped int64
}

// Session is the RTP of one call.
type Session struct {
	callID string
	conn   *net.UDPConn
	log    *slog.Logger
	ssrc   uint32
	done   chan struct{} // closed by Close
	heard  chan struct{} // closed on the first packet received
	recvWG sync.WaitGroup

	// playMu lets one playback (Say, hold audio) send at a time.
	playMu  sync.Mutex
	playing atomic.Bool

	mu       sync.Mutex
	p        Params
	remote   netip.AddrPort // where media is sent
	source   rtpSource      // where media is taken from
	seq      uint16
	ts       uint32
	lastSend time.Time
	peer     *Session // a bridge's other side
	relayed  *atomic.Int64
	relaying sync.WaitGroup // packets being relayed to peer; Add under mu
	buf      []byte
	// bargeIn stops the playback of a Say when the caller starts to
	// talk; nil while nothing is said.
	bargeIn context.CancelCauseFunc
	ear     *ear       // nil: the caller is not listened to
	signals legSignals // keys and speech for a transfer's listeners
	// tap, while set, is handed every frame received (answering-machine
	// detection on a transfer's own call).
	tap atomic.Pointer[frameTap]
	bg  context.Context // the lifetime of the work handed to Hearing

	sent, received, dtmf atomic.Int64
	dropped              atomic.Int64 // packets from a source not taken as media
	lastDTMF             uint32       // timestamp of the last DTMF event counted
	closed               atomic.Bool
}

func newSession(callID string, conn *net.UDPConn, p Params, log *slog.Logger, hear *ear, bg context.Context) *Session {
	var b [8]byte
	_, _ = rand.Read(b[:])
	s := &Session{
		callID: callID, conn: conn, log: log, done: make(chan struct{}), heard: make(chan struct{}),
		ssrc: binary.BigEndian.Uint32(b[0:4]),
		seq:  binary.BigEndian.Uint16(b[4:6]), // random starts (RFC 3550 5.1)
		ts:   binary.BigEndian.Uint32(b[4:8]),
		buf:  make([]byte, 12+frameSamples),
	}
	s.setParams(p)
	s.ear, s.bg = hear, bg
	s.recvWG.Add(1)
	go s.receive()
	return s
}

// CallID is the call the session belongs to.
func (s *Session) CallID() string { return s.callID }

// LocalAddr is where the session receives.
func (s *Session) LocalAddr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Stats are the session's packet counts so far.
func (s *Session) Stats() Stats {
	return Stats{Sent: s.sent.Load(), Received: s.received.Load(), DTMF: s.dtmf.Load(), Dropped: s.dropped.Load()}
}

// Heard is closed once the far side's first RTP packet has arrived.
func (s *Session) Heard() <-chan struct{} { return s.heard }

// Done is closed when the session is closed.
func (s *Session) Done() <-chan struct{} { return s.done }

// setParams applies a new negotiation: a changed SDP address forgets a
// learned source, so a re-INVITE can move the media.
func (s *Session) setParams(p Params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Remote != s.p.Remote {
		s.source.reset(p.Remote)
		s.remote = p.Remote
	}
	if p.Codec != PCMA {
		p.Codec = PCMU
	}
	s.p = p
}

// Params are the session's negotiated parameters.
func (s *Session) Params() Params {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p
}

// close stops the session; the caller closes or releases the socket.
func (s *Session) close() {
	if s.closed.CompareAndSwap(false, true) {
		close(s.done)
	}
	_ = s.conn.SetReadDeadline(time.Now()) // wake the receiver
	s.recvWG.Wait()
}

// sendFrame sends one 20 ms frame: G.711 bytes already encoded (payload),
// or silence when payload is nil. It returns false when nothing could be
// sent (held, no address yet, closed). A frame that continues a playback
// takes the next timestamp whatever the clock says, so that a late timer
// does not cut a message into pieces; any other frame's timestamp
// follows the clock.
func (s *Session) sendFrame(payload []byte, continues bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendLocked(payload, time.Now(), continues)
}

func (s *Session) sendLocked(payload []byte, now time.Time, continues bool) bool {
	if s.closed.Load() || !s.p.Send || !s.remote.IsValid() || s.remote.Port() == 0 {
		return false
	}
	// Every playback and keepalive starts a talkspurt (the marker bit);
	// after a pause the timestamp follows the clock, in whole frames.
	marker := !continues
	if gap := now.Sub(s.lastSend); !continues && !s.lastSend.IsZero() && gap > 30*time.Millisecond {
		frames := uint32((gap + 10*time.Millisecond) / (20 * time.Millisecond))
		s.ts += (frames - 1) * frameSamples
	}
	s.ts += frameSamples
	s.seq++
	s.lastSend = now
	pkt := rtp.Packet{Header: rtp.Header{
		Version: 2, Marker: marker, PayloadType: s.p.PayloadType,
		SequenceNumber: s.seq, Timestamp: s.ts, SSRC: s.ssrc,
	}}
	if payload == nil {
		payload = s.buf[12:]
		for i := range payload {
			payload[i] = silence(s.p.Codec)
		}
	}
	pkt.Payload = payload
	n, err := pkt.MarshalTo(s.buf[:cap(s.buf)])
	if err != nil {
		return false
	}
	if _, err := s.conn.WriteToUDPAddrPort(s.buf[:n], s.remote); err != nil {
		s.log.Debug("send RTP", "call_id", s.callID, "err", err)
		return false
	}
	s.sent.Add(1)
	return true
}

// idleSince reports whether the session has sent nothing since t and
// plays nothing: the keepalive's test.
func (s *Session) idleSince(t time.Time) bool {
	if s.playing.Load() {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peer == nil && s.lastSend.Before(t)
}

// receive reads the far side's RTP until the session closes.
func (s *Session) receive() {
	defer s.recvWG.Done()
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if s.closed.Load() || !(errors.As(err, &ne) && ne.Timeout()) {
				return
			}
			continue
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil || pkt.Version != 2 {
			continue
		}
		s.onPacket(&pkt, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()))
	}
}

func (s *Session) onPacket(pkt *rtp.Packet, from netip.AddrPort) {
	s.mu.Lock()
	p := s.p
	if int(pkt.PayloadType) != int(p.PayloadType) && int(pkt.PayloadType) != p.TelephoneEvent {
		s.mu.Unlock()
		return // RTCP on the RTP port, or a payload type not negotiated
	}
	ok, sendTo := s.source.accept(from, pkt.SSRC, pkt.SequenceNumber)
	if !ok {
		s.mu.Unlock()
		if s.dropped.Add(1) == 1 {
			s.log.Debug("RTP from an unexpected source dropped", "call_id", s.callID, "sdp", p.Remote.String(), "from", from.String())
		}
		return
	}
	if sendTo.IsValid() && sendTo != s.remote {
		s.log.Debug("RTP source learned", "call_id", s.callID, "sdp", p.Remote.String(), "from", sendTo.String())
		s.remote = sendTo
	}
	peer, relayed := s.peer, s.relayed
	if peer != nil {
		s.relaying.Add(1)
		defer s.relaying.Done()
	}
	s.mu.Unlock()
	if s.received.Add(1) == 1 {
		close(s.heard)
	}
	if int(pkt.PayloadType) == p.TelephoneEvent {
		s.onDTMF(pkt)
		return
	}
	if len(pkt.Payload) > 0 {
		s.tapFrame(p.Codec, pkt.Payload)
	}
	if peer == nil && len(pkt.Payload) > 0 {
		s.signals.frame(p.Codec, pkt.Payload, time.Now())
	}
	if s.ear != nil && peer == nil && len(pkt.Payload) > 0 {
		// A bridged caller talks to the human, not to us.
		s.hearFrame(p.Codec, pkt.Payload, time.Now())
	}
	if peer != nil && len(pkt.Payload) == frameSamples {
		payload := append([]byte(nil), pkt.Payload...)
		transcode(p.Codec, peer.Params().Codec, payload)
		if peer.sendFrame(payload, true) {
			relayed.Add(1)
		}
	}
}

// onDTMF counts RFC 4733 events once each, on their end packet.
func (s *Session) onDTMF(pkt *rtp.Packet) {
	if len(pkt.Payload) < 4 || pkt.Payload[1]&0x80 == 0 {
		return
	}
	s.mu.Lock()
	dup := s.lastDTMF == pkt.Timestamp && s.dtmf.Load() > 0
	s.lastDTMF = pkt.Timestamp
	s.mu.Unlock()
	if dup {
		return // the end packet is sent three times
	}
	s.dtmf.Add(1)
	s.log.Info("DTMF", "call_id", s.callID, "event", dtmfName(pkt.Payload[0]))
	if pkt.Payload[0] < 16 {
		s.signals.digit(dtmfName(pkt.Payload[0]))
	}
	if s.ear != nil && pkt.Payload[0] < 16 {
		s.hearDigit(dtmfName(pkt.Payload[0]), "rfc4733")
	}
}

func dtmfName(e byte) string {
	const names = "0123456789*#ABCD"
	if int(e) < len(names) {
		return names[e : e+1]
	}
	return "event"
}
