package sip

import (
	"errors"
	"strings"
	"testing"
)

func offer(lines ...string) []byte { return []byte(strings.Join(lines, "\r\n") + "\r\n") }

var testMedia = localMedia{addr: "192.0.2.10", port: 10002, sessID: 42, version: 7}

func TestBuildAnswer(t *testing.T) {
	t.Parallel()
	base := []string{"v=0", "o=- 1 1 IN IP4 198.51.100.1", "s=-", "c=IN IP4 198.51.100.1", "t=0 0"}
	for _, tc := range []struct {
		name  string
		offer []byte
		want  []string // lines the answer must contain
		not   []string // lines it must not contain
		err   bool
	}{
		{
			name:  "pcmu first",
			offer: offer(append(base, "m=audio 4000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15")...),
			want: []string{"v=0", "o=voicedock 42 7 IN IP4 192.0.2.10", "c=IN IP4 192.0.2.10", "m=audio 10002 RTP/AVP 0 101",
				"a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=sendrecv"},
			not: []string{"a=rtpmap:8 PCMA/8000"},
		},
		{
			name:  "pcma first, no telephone-event",
			offer: offer(append(base, "m=audio 4000 RTP/AVP 8 0")...),
			want:  []string{"m=audio 10002 RTP/AVP 8", "a=rtpmap:8 PCMA/8000", "a=sendrecv"},
			not:   []string{"telephone-event"},
		},
		{
			name:  "opus preferred but not ours",
			offer: offer(append(base, "m=audio 4000 RTP/AVP 111 9 8 0 96", "a=rtpmap:111 opus/48000/2", "a=rtpmap:96 telephone-event/8000")...),
			want:  []string{"m=audio 10002 RTP/AVP 8 96", "a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-16"},
		},
		{
			name:  "dynamic payload type for pcmu",
			offer: offer(append(base, "m=audio 4000 RTP/AVP 97", "a=rtpmap:97 pcmu/8000")...),
			want:  []string{"m=audio 10002 RTP/AVP 97", "a=rtpmap:97 PCMU/8000"},
		},
		{
			name:  "sendonly becomes recvonly",
			offer: offer(append(base, "m=audio 4000 RTP/AVP 0", "a=sendonly")...),
			want:  []string{"a=recvonly"},
		},
		{
			name:  "session-level inactive",
			offer: offer(append(base[:4], "t=0 0", "a=inactive", "m=audio 4000 RTP/AVP 0")...),
			want:  []string{"a=inactive"},
		},
		{
			name:  "recvonly becomes sendonly",
			offer: offer(append(base, "m=audio 4000 RTP/AVP 0", "a=recvonly")...),
			want:  []string{"a=sendonly"},
		},
		{
			name:  "old-style hold",
			offer: offer("v=0", "o=- 1 2 IN IP4 0.0.0.0", "s=-", "c=IN IP4 0.0.0.0", "t=0 0", "m=audio 4000 RTP/AVP 0"),
			want:  []string{"a=recvonly"},
		},
		{
			name:  "video rejected, audio answered, bare LF",
			offer: []byte(strings.Join(append(base, "m=video 5000 RTP/AVP 96", "a=rtpmap:96 H264/90000", "m=audio 4000 RTP/AVP 0"), "\n") + "\n"),
			want:  []string{"m=video 0 RTP/AVP 96", "m=audio 10002 RTP/AVP 0"},
		},
		{
			name:  "ipv6",
			offer: offer("v=0", "o=- 1 1 IN IP6 ::1", "s=-", "c=IN IP6 ::1", "t=0 0", "m=audio 4000 RTP/AVP 0"),
			want:  []string{"c=IN IP4 192.0.2.10"},
		},
		{name: "g729 only", offer: offer(append(base, "m=audio 4000 RTP/AVP 18")...), err: true},
		{name: "srtp only", offer: offer(append(base, "m=audio 4000 RTP/SAVP 0")...), err: true},
		{name: "audio port 0", offer: offer(append(base, "m=audio 0 RTP/AVP 0")...), err: true},
		{name: "no media", offer: offer(base...), err: true},
		{name: "not sdp", offer: []byte("hello"), err: true},
		{name: "no version", offer: offer("o=- 1 1 IN IP4 1.2.3.4", "m=audio 4000 RTP/AVP 0"), err: true},
		{name: "bad port", offer: offer(append(base, "m=audio 99999 RTP/AVP 0")...), err: true},
		{name: "bad c=", offer: offer(append(base, "c=IN", "m=audio 4000 RTP/AVP 0")...), err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ans, _, err := buildAnswer(tc.offer, testMedia)
			if tc.err {
				var na *notAcceptableError
				if !errors.As(err, &na) {
					t.Fatalf("buildAnswer = %q, %v; want a not-acceptable error", ans, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("buildAnswer: %v", err)
			}
			lines := strings.Split(string(ans), "\r\n")
			for _, w := range tc.want {
				if !contains(lines, w) {
					t.Errorf("answer lacks %q:\n%s", w, ans)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(string(ans), n) {
					t.Errorf("answer has %q:\n%s", n, ans)
				}
			}
			checkAnswer(t, tc.offer, ans)
		})
	}
}

func TestBuildOffer(t *testing.T) {
	t.Parallel()
	o := buildOffer(testMedia, dirSendRecv)
	d, err := parseSDP(o)
	if err != nil {
		t.Fatalf("our offer does not parse: %v\n%s", err, o)
	}
	c, err := choose(d)
	if err != nil || c.codec != codecPCMU || c.tePT != "101" || c.dir != dirSendRecv {
		t.Errorf("our offer answers as %+v, %v", c, err)
	}
	if m := d.media[0]; m.port != testMedia.port || strings.Join(m.formats, " ") != "0 8 101" {
		t.Errorf("offer media %+v", m)
	}
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

// checkAnswer checks what every answer must be (RFC 3264): it parses, has
// one m= line per offered one, exactly one accepted (ours: audio, our port,
// PCMU or PCMA first) and the rest rejected with port 0.
func checkAnswer(t *testing.T, offerBody, ans []byte) {
	t.Helper()
	od, err := parseSDP(offerBody)
	if err != nil {
		t.Fatalf("offer that was answered does not parse: %v", err)
	}
	ad, err := parseSDP(ans)
	if err != nil {
		t.Fatalf("answer does not parse: %v\n%s", err, ans)
	}
	if len(ad.media) != len(od.media) {
		t.Fatalf("answer has %d m= lines for %d offered", len(ad.media), len(od.media))
	}
	accepted := 0
	for i, m := range ad.media {
		if m.port == 0 {
			continue
		}
		accepted++
		if m.kind != "audio" || m.port != testMedia.port || od.media[i].kind != "audio" {
			t.Fatalf("accepted line %d: %+v", i, m)
		}
		if enc := m.encoding(m.formats[0]); enc != codecPCMU && enc != codecPCMA {
			t.Fatalf("first format %q is %q", m.formats[0], enc)
		}
		if !isDirection(m.dir) {
			t.Fatalf("no direction in %+v", m)
		}
		for _, f := range m.formats {
			found := false
			for _, of := range od.media[i].formats {
				found = found || of == f
			}
			if !found {
				t.Fatalf("answer format %q was not offered", f)
			}
		}
	}
	if accepted != 1 {
		t.Fatalf("%d accepted m= lines, want 1\n%s", accepted, ans)
	}
	if ad.conn != testMedia.addr {
		t.Fatalf("c= %q, want %q", ad.conn, testMedia.addr)
	}
}

// FuzzSDPAnswer: any offer gives a valid answer or a not-acceptable error,
// never a panic.
func FuzzSDPAnswer(f *testing.F) {
	for _, seed := range []string{
		"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n",
		"v=0\nc=IN IP4 0.0.0.0\nm=audio 4000 RTP/AVP 8\n",
		"v=0\r\nm=video 1 RTP/AVP 96\r\nm=audio 2/2 RTP/AVPF 97 0\r\na=rtpmap:97 PCMA/8000/1\r\na=recvonly\r\n",
		"v=0\r\nm=audio 4000 RTP/SAVP 0\r\n",
		"v=0\r\nm=audio 4000 RTP/AVP\r\n",
		"v=0\r\na=inactive\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0\r\na=fmtp:\r\n",
		"v=1\r\n",
		"",
		"\x00\xff",
		"v=0\r\nm=\xff\xfe 1 RTP/AVP 0\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// The media session reads the answer to our offer with the same
		// parser: it must not panic either, and must agree on the codec.
		if ch, err := answeredMedia(body); err == nil {
			if p := mediaParams(*ch); p.Codec != "PCMU" && p.Codec != "PCMA" {
				t.Fatalf("media codec %q", p.Codec)
			}
		}
		ans, ch, err := buildAnswer(body, testMedia)
		if err == nil && ch.remote.IsValid() && ch.remote.Addr().IsUnspecified() {
			t.Fatalf("RTP would be sent to %s", ch.remote)
		}
		if err != nil {
			var na *notAcceptableError
			if !errors.As(err, &na) {
				t.Fatalf("error %v is not a not-acceptable error", err)
			}
			return
		}
		checkAnswer(t, body, ans)
	})
}
