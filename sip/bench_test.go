package sip

import "testing"

func BenchmarkParseSipfrag(b *testing.B) {
	body := []byte("SIP/2.0 180 Ringing\r\nContact: <sip:target@127.0.0.1>\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseSipfrag("message/sipfrag;version=2.0", body); err != nil {
			b.Fatal(err)
		}
	}
}
