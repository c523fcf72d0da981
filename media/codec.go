package media

import "github.com/zaf/g711"

// Codec names as the SDP's rtpmap spells them.
const (
	PCMU = "PCMU"
	PCMA = "PCMA"
)

// Samples per 20 ms packet at 8 kHz.
const frameSamples = 160

// encode writes G.711 for 160 samples into dst.
func encode(codec string, dst []byte, pcm []int16) {
	for i, s := range pcm {
		if codec == PCMA {
			dst[i] = g711.EncodeAlawFrame(s)
		} else {
			dst[i] = g711.EncodeUlawFrame(s)
		}
	}
}

// Decode turns G.711 bytes into linear samples.
func Decode(codec string, payload []byte) []int16 {
	out := make([]int16, len(payload))
	for i, b := range payload {
		if codec == PCMA {
			out[i] = g711.DecodeAlawFrame(b)
		} else {
			out[i] = g711.DecodeUlawFrame(b)
		}
	}
	return out
}

// transcode converts a G.711 payload between PCMU and PCMA in place.
func transcode(from, to string, p []byte) {
	if from == to {
		return
	}
	for i, b := range p {
		if from == PCMU {
			p[i] = g711.Ulaw2AlawFrame(b)
		} else {
			p[i] = g711.Alaw2UlawFrame(b)
		}
	}
}

// silence is one byte of G.711 silence.
func silence(codec string) byte {
	if codec == PCMA {
		return 0xD5
	}
	return 0xFF
}
