package audio

import (
	"testing"
	"time"
)

func FuzzDecodeWAV(f *testing.F) {
	f.Add(EncodeWAV(tone(8000, 440, 20*time.Millisecond)))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x07\x00\x01\x00\x40\x1f\x00\x00\x40\x1f\x00\x00\x01\x00\x08\x00data\xff\xff\xff\xff\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeWAV(b, time.Second)
		if err != nil {
			return
		}
		if p.Rate <= 0 || p.Duration() > time.Second {
			t.Fatalf("accepted %d Hz, %s", p.Rate, p.Duration())
		}
		if 2*len(p.Samples) > len(b)*2 {
			t.Fatalf("%d samples from %d bytes", len(p.Samples), len(b))
		}
	})
}
