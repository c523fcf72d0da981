package audio

import "math"

// Resample converts mono samples from one rate to another with a
// windowed-sinc (Blackman) interpolator whose cut-off is below the lower
// Nyquist frequency, so that downsampling speech to 8 kHz does not fold
// its upper harmonics back into the band as aliasing.
//
// Written here because no pure-Go resampler is maintained where we can
// reach it (the good ones, soxr and speexdsp, need cgo and a C library),
// and this one is short: telephone speech needs no more than this.
func Resample(in []int16, from, to int) []int16 {
	if from <= 0 || to <= 0 || len(in) == 0 {
		return nil
	}
	if from == to {
		return append([]int16(nil), in...)
	}
	const halfTaps = 16 // taps each side at the lower rate
	ratio := float64(to) / float64(from)
	cutoff := 0.95 * math.Min(1, ratio) // of the input's Nyquist frequency
	width := float64(halfTaps) / math.Min(1, ratio)
	n := int(int64(len(in)) * int64(to) / int64(from))
	out := make([]int16, n)
	for i := range out {
		center := float64(i) / ratio
		lo := int(math.Ceil(center - width))
		hi := int(math.Floor(center + width))
		var acc, norm float64
		for j := max(lo, 0); j <= hi && j < len(in); j++ {
			x := float64(j) - center
			w := cutoff * sinc(cutoff*x) * blackman(x, width)
			acc += w * float64(in[j])
			norm += w
		}
		if norm != 0 {
			acc /= norm
		}
		out[i] = clamp16(acc)
	}
	return out
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// blackman is the Blackman window over [-width, width].
func blackman(x, width float64) float64 {
	if x < -width || x > width {
		return 0
	}
	t := (x + width) / (2 * width)
	return 0.42 - 0.5*math.Cos(2*math.Pi*t) + 0.08*math.Cos(4*math.Pi*t)
}

func clamp16(v float64) int16 {
	switch {
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < math.MinInt16:
		return math.MinInt16
	}
	return int16(math.Round(v))
}
