//go:build !unix

package owner

import (
	"context"
	"os"
)

// Without flock every process owns its directory: attaching is a Unix
// feature. Two processes on one directory then fail as they did before
// attaching existed (the SIP port or the store is taken).
func tryLock(*os.File) (bool, error) { return true, nil }

func lockWait(context.Context, *os.File) error { return nil }

// waitShared never returns: without locks there is no owner to watch.
func waitShared(*os.File) { select {} }

func processAlive(int) bool { return true }
