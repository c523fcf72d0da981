package core

import "context"

// Speech turns what the server says into audio: 8 kHz mono 16-bit
// samples, ready for a call's G.711. The speech package implements it
// with its text-to-speech engines and pre-recorded audio.
type Speech interface {
	Render(ctx context.Context, u Utterance) ([]int16, error)
}
