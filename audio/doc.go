// Package audio holds the telephone audio the server speaks: 16-bit mono
// samples at a known rate, read from WAV files and resampled to the 8 kHz
// that G.711 carries.
package audio
