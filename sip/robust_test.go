package sip

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestMalformedMessages: garbage and broken requests over UDP and TCP do
// not crash the UA, create calls or reach the core; it still answers.
func TestMalformedMessages(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	msgs := []string{
		"",
		"\x00\x01\x02\xff\xfe",
		"hello world\r\n\r\n",
		"INVITE\r\n\r\n",
		"INVITE sip:1@127.0.0.1 SIP/2.0\r\n\r\n",
		"INVITE sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK1\r\nCSeq: 1 INVITE\r\n\r\n",
		"INVITE sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK2\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:1@127.0.0.1>\r\nContent-Length: 5\r\n\r\nv=0\r\n",
		"NOTIFY sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK3\r\nCSeq: 1 NOTIFY\r\nCall-ID: x\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:1@127.0.0.1>;tag=2\r\nContent-Type: message/sipfrag\r\nContent-Length: 3\r\n\r\nSIP",
		"BYE sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK4\r\nCSeq: x BYE\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK5\r\nCSeq: 1 INVITE\r\n\r\n",
		"ACK sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK6\r\nCSeq: 1 ACK\r\nCall-ID: y\r\nTo: <sip:1@127.0.0.1>;tag=none\r\n\r\n",
		"OPTIONS sip:1@127.0.0.1 SIP/2.0\r\n" + strings.Repeat("X-Long: "+strings.Repeat("a", 500)+"\r\n", 20) + "\r\n",
	}
	udp, err := net.Dial("udp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for _, m := range msgs {
		if _, err := udp.Write([]byte(m)); err != nil && m != "" {
			t.Fatalf("write: %v", err)
		}
	}
	tcp, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = tcp.SetDeadline(time.Now().Add(2 * time.Second))
	for _, m := range msgs {
		_, _ = tcp.Write([]byte(m))
	}
	_ = tcp.Close()

	// Still alive and well.
	s := startSipp(t, "uac_options.xml", h.addr)
	s.wait(t)
	if n := h.ua.calls.count(); n != 0 {
		t.Errorf("%d calls after garbage", n)
	}
	rec.expectQuiet(t, 50*time.Millisecond)
}
