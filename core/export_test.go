package core

import "time"

// SetHeapReader replaces how admission reads the live heap and the memory
// limit, so that a test can put the process under memory pressure.
func SetHeapReader(m *Calls, read func() (live, limit uint64)) { m.slots.heap.read = read }

// StepWriteTook records a transfer step's store write that started at
// start, as the step writes do.
func StepWriteTook(m *Calls, start time.Time) { m.slots.writes.took(start) }

// StepWriteAverage is the moving average of the transfer steps' writes.
func StepWriteAverage(m *Calls) time.Duration { return time.Duration(m.slots.writes.avg.Load()) }

// LockCall takes the live call's lock, as a report on it would, and
// returns its release.
func LockCall(m *Calls, id string) (unlock func()) {
	lc := m.get(id)
	lc.mu.Lock()
	return lc.mu.Unlock
}

// ReportsWaiting is how many progress reports wait for the call's lock.
func ReportsWaiting(m *Calls, id string) int32 { return m.get(id).notifying.Load() }

// SetStoreTimeout sets how long a state write may wait for the store.
func SetStoreTimeout(m *Calls, d time.Duration) { m.storeTimeout = d }

// SetFileReader replaces how admission counts the open files and reads
// their limit, so that a test can put the process near its limit.
func SetFileReader(m *Calls, read func() (open, limit uint64)) { m.slots.files.read = read }

// OpenFiles is admission's count of the open files and their limit.
func OpenFiles() (open, limit uint64) { return openFiles() }
