package server

import (
	"context"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// TestWaitTasksWaitsForStoredResults: WaitTasks returns once every run's
// result is stored, and says how many still ran when its context ended.
func TestWaitTasksWaitsForStoredResults(t *testing.T) {
	stored := make(chan string, 2)
	runs := newTaskRuns()
	runs.store = func(r *taskRun) {
		if r.status != mcp.TaskStatusWorking {
			stored <- r.taskID
		}
	}
	s := &Server{runs: runs}
	for _, id := range []string{"t1", "t2"} {
		r := &taskRun{key: id, taskID: id, done: make(chan struct{}), status: mcp.TaskStatusWorking, store: runs.store}
		runs.byKey[r.key], runs.byTask[id] = r, r
	}

	short, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if n := s.WaitTasks(short); n != 2 {
		t.Fatalf("WaitTasks with both running: %d still running, want 2", n)
	}

	waited := make(chan int)
	go func() { waited <- s.WaitTasks(t.Context()) }()
	runs.byKey["t1"].finish(&mcp.CallToolResult{}, true)
	runs.byKey["t2"].finish(&mcp.CallToolResult{}, false)
	if n := <-waited; n != 0 {
		t.Errorf("WaitTasks after both ended: %d still running", n)
	}
	if got := len(stored); got != 2 {
		t.Errorf("%d results stored when WaitTasks returned, want 2", got)
	}
}
