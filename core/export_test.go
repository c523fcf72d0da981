package core

// SetHeapReader replaces how admission reads the live heap and the memory
// limit, so that a test can put the process under memory pressure.
func SetHeapReader(m *Calls, read func() (live, limit uint64)) { m.slots.heap.read = read }
