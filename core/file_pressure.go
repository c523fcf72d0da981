package core

import "time"

// filePressureEvery is how often admission counts the process's open
// files. A count reads the descriptor table, whose cost grows with it (a
// millisecond or two at 15,000), so it is not made per INVITE; at the
// call rates the server holds, a quarter of a second adds a few hundred
// descriptors, well inside the quarter of the limit kept in reserve.
const filePressureEvery = 250 * time.Millisecond

// newFilePressure returns what tells admission when the open files fill
// three quarters of the process's limit (RLIMIT_NOFILE). Each call held
// takes a descriptor (its RTP socket) and each agent's connection another,
// and past the limit nothing new can be opened: not the next call's
// socket, not the next connection, and not a file SQLite asks for. With
// the caps off (VOICEDOCK_MAX_CALLS=0) or above what the limit holds, this
// is the bound that is left, so it applies whatever the caps; the quarter
// kept serves the calls already answered (their transfers' legs, the
// webhooks, the store's readers). Where the count cannot be read it never
// presses.
func newFilePressure() *pressure { return &pressure{every: filePressureEvery, read: openFiles} }
