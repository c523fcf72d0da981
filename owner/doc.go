// Package owner decides which voicedock process owns a data directory.
//
// A telephony server cannot run twice on one store and one SIP port, yet
// every MCP client window starts its own `voicedock serve --transport
// stdio`. The first process takes an exclusive lock on the directory and
// holds it for its lifetime; it serves MCP on a Unix socket inside the
// directory and records how to reach it in owner.json. A later process
// finds the lock taken and attaches to the owner instead of opening the
// store.
//
// The lock is flock(2): the kernel drops it when the holder exits, however
// it exits, so a lock left by a killed process is never stale. A second
// lock serialises start-ups: the owner holds it until its socket answers,
// so a process that finds the directory owned knows the owner is ready.
package owner
