// Package speech renders what the server says on calls: text through a
// text-to-speech engine (espeak-ng run locally, or an HTTP service
// compatible with OpenAI's POST /v1/audio/speech), or a pre-recorded WAV
// from a local path or an https URL. Everything rendered is cached in
// memory by (engine, voice, text) or by URL, bounded in bytes.
//
// It also hears the callers: Listener turns an utterance into text with a
// speech-to-text engine, PocketSphinx run locally (offline) or an HTTP
// service compatible with OpenAI's POST /v1/audio/transcriptions.
package speech
