package audio

import (
	"math"
	"time"
)

// Rate8k is the sample rate of G.711 telephone audio.
const Rate8k = 8000

// PCM is mono 16-bit linear audio.
type PCM struct {
	Rate    int
	Samples []int16
}

// Duration is how long the audio plays.
func (p PCM) Duration() time.Duration {
	if p.Rate <= 0 {
		return 0
	}
	return time.Duration(len(p.Samples)) * time.Second / time.Duration(p.Rate)
}

// To8k returns the audio at 8 kHz.
func (p PCM) To8k() PCM {
	if p.Rate == Rate8k {
		return p
	}
	return PCM{Rate: Rate8k, Samples: Resample(p.Samples, p.Rate, Rate8k)}
}

// RMS is the root mean square of the samples: 0 for silence, about 3,000
// for speech at a normal level.
func RMS(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum float64
	for _, s := range samples {
		sum += float64(s) * float64(s)
	}
	return math.Sqrt(sum / float64(len(samples)))
}
