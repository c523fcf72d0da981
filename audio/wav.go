package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/zaf/g711"
)

// WAV format tags we read.
const (
	wavPCM        = 1
	wavFloat      = 3
	wavALaw       = 6
	wavMuLaw      = 7
	wavExtensible = 0xFFFE
)

// ErrNotWAV reports bytes that are not a RIFF WAVE file.
var ErrNotWAV = errors.New("audio: not a RIFF WAVE file")

// DecodeWAV reads a WAV file (PCM 8/16/24/32-bit, 32-bit float, A-law or
// µ-law; any channel count, mixed down to mono) of at most maxDuration.
//
// Hand-written rather than go-audio/wav: that decoder ignores chunk read
// errors, allocates by the sizes in the header, reads neither A-law nor
// µ-law, and stops on the "unknown length" data chunk (0xFFFFFFFF) that
// streaming writers such as espeak-ng --stdout produce. WAV is simple
// enough (RIFF chunks, one fmt, one data) to read strictly here; it parses
// untrusted input (message_audio_url, TTS providers), so FuzzDecodeWAV
// covers it.
func DecodeWAV(b []byte, maxDuration time.Duration) (PCM, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return PCM{}, ErrNotWAV
	}
	var (
		format, channels, bits uint16
		rate                   uint32
		sawFmt                 bool
		data                   []byte
	)
	rest := b[12:]
	for len(rest) >= 8 && data == nil {
		id := string(rest[0:4])
		size := uint64(binary.LittleEndian.Uint32(rest[4:8]))
		rest = rest[8:]
		if size > uint64(len(rest)) {
			if id != "data" {
				return PCM{}, fmt.Errorf("audio: WAV chunk %q of %d bytes runs past the end of the file", printable(id), size)
			}
			size = uint64(len(rest)) // a streamed file: the data runs to the end
		}
		body := rest[:size]
		rest = rest[size:]
		if size%2 == 1 && len(rest) > 0 {
			rest = rest[1:] // chunks are padded to an even size
		}
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return PCM{}, fmt.Errorf("audio: WAV fmt chunk of %d bytes is too short", len(body))
			}
			format = binary.LittleEndian.Uint16(body[0:2])
			channels = binary.LittleEndian.Uint16(body[2:4])
			rate = binary.LittleEndian.Uint32(body[4:8])
			bits = binary.LittleEndian.Uint16(body[14:16])
			if format == wavExtensible {
				if len(body) < 26 {
					return PCM{}, errors.New("audio: WAV extensible fmt chunk is too short")
				}
				format = binary.LittleEndian.Uint16(body[24:26]) // the sub-format GUID starts with the tag
			}
			sawFmt = true
		case "data":
			if !sawFmt {
				return PCM{}, errors.New("audio: WAV data chunk before the fmt chunk")
			}
			data = body
		}
	}
	if !sawFmt {
		return PCM{}, errors.New("audio: WAV file has no fmt chunk")
	}
	if data == nil {
		return PCM{}, errors.New("audio: WAV file has no data chunk")
	}
	if channels == 0 || channels > 8 {
		return PCM{}, fmt.Errorf("audio: WAV with %d channels", channels)
	}
	if rate < 4000 || rate > 192000 {
		return PCM{}, fmt.Errorf("audio: WAV sample rate %d Hz is not supported", rate)
	}
	decode, width, err := sampleDecoder(format, bits)
	if err != nil {
		return PCM{}, err
	}
	frame := width * int(channels)
	frames := len(data) / frame
	if maxDuration > 0 && time.Duration(frames)*time.Second/time.Duration(rate) > maxDuration {
		return PCM{}, fmt.Errorf("audio: WAV is longer than %s", maxDuration)
	}
	out := make([]int16, frames)
	for i := range out {
		var sum int
		for c := 0; c < int(channels); c++ {
			off := i*frame + c*width
			sum += int(decode(data[off : off+width]))
		}
		out[i] = int16(sum / int(channels))
	}
	return PCM{Rate: int(rate), Samples: out}, nil
}

// sampleDecoder returns how to read one sample of a format, and its width
// in bytes.
func sampleDecoder(format, bits uint16) (func([]byte) int16, int, error) {
	switch {
	case format == wavPCM && bits == 8:
		return func(b []byte) int16 { return int16(int(b[0])-128) << 8 }, 1, nil
	case format == wavPCM && bits == 16:
		return func(b []byte) int16 { return int16(binary.LittleEndian.Uint16(b)) }, 2, nil
	case format == wavPCM && bits == 24:
		return func(b []byte) int16 { return int16(uint16(b[1]) | uint16(b[2])<<8) }, 3, nil
	case format == wavPCM && bits == 32:
		return func(b []byte) int16 { return int16(binary.LittleEndian.Uint32(b) >> 16) }, 4, nil
	case format == wavFloat && bits == 32:
		return func(b []byte) int16 {
			f := float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
			if math.IsNaN(f) {
				return 0
			}
			return clamp16(f * math.MaxInt16)
		}, 4, nil
	case format == wavALaw && bits == 8:
		return func(b []byte) int16 { return g711.DecodeAlawFrame(b[0]) }, 1, nil
	case format == wavMuLaw && bits == 8:
		return func(b []byte) int16 { return g711.DecodeUlawFrame(b[0]) }, 1, nil
	}
	return nil, 0, fmt.Errorf("audio: WAV format %d with %d-bit samples is not supported", format, bits)
}

// EncodeWAV writes 16-bit PCM mono as a WAV file.
func EncodeWAV(p PCM) []byte {
	n := len(p.Samples) * 2
	b := make([]byte, 44+n)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], wavPCM)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], uint32(p.Rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(p.Rate*2))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(n))
	for i, s := range p.Samples {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(s))
	}
	return b
}

func printable(s string) string {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return fmt.Sprintf("%x", s)
		}
	}
	return s
}
