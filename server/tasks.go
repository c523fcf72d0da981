package server

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// taskRunMetaKey marks, in a task-augmented tools/call's _meta, the
// taskRun that follows it. The server writes it; a client's own value is
// overwritten.
const taskRunMetaKey = "voicedock/task-run"

// taskKeep is how long a task's last step is kept after it ended, for
// tasks/get; mcp-go keeps the task itself for the TTL the client asked.
const taskKeep = time.Hour

// taskRun follows one tool call run as an mcp-go task: the task's id, and
// the step the tool last reported (a transfer's requested, trying,
// ringing, ...), which tasks/get shows as the task's statusMessage.
//
// mcp-go runs a task-augmented call of a plain tool in a goroutine of its
// own and keeps the task (status, result, cancellation) itself, but hands
// the tool neither the task's id nor a way to say how far it got. The
// before-call hook and the task-created hook run one after the other for
// the same request, on its goroutine and with the same context: the first
// marks the request with a taskRun, the second gives that run its task id.
type taskRun struct {
	key   string
	ready chan struct{} // closed once taskID is set

	owner string        // who started it (core.Actor name)
	tool  string        // the tool it runs
	ttl   time.Duration // the TTL the client asked for; 0: none
	done  chan struct{} // closed once the tool returned

	mu        sync.Mutex
	taskID    string
	sessionID string // mcp-go's session holding the task; "" sessionless
	createdAt time.Time
	updatedAt time.Time
	message   string
	ref       map[string]string
	status    mcp.TaskStatus
	result    []byte // the tool's CallToolResult, once it returned

	// store keeps the run's record (see storedTasks.save); nil: none.
	store func(*taskRun)
	// cancel ends the run of a 2026-07-28 task (see answerV2); nil for
	// those mcp-go runs.
	cancel context.CancelFunc
}

func (r *taskRun) setRef(ref map[string]string) {
	r.mu.Lock()
	r.ref = ref
	r.mu.Unlock()
	if r.store != nil {
		r.store(r)
	}
}

// finish records the tool's result (or that the task was cancelled) and
// stores it, so that the task answers after a restart too.
func (r *taskRun) finish(res *mcp.CallToolResult, cancelled bool) {
	var body []byte
	if res != nil {
		body, _ = json.Marshal(res)
	}
	r.mu.Lock()
	r.status, r.result, r.updatedAt = mcp.TaskStatusCompleted, body, time.Now().UTC()
	if cancelled {
		r.status, r.result = mcp.TaskStatusCancelled, nil
	}
	r.mu.Unlock()
	if r.store != nil {
		r.store(r)
	}
	close(r.done)
}

// fail records that the task's call was refused before its tool ran.
func (r *taskRun) fail(e v2Error) {
	body, _ := json.Marshal(e)
	r.mu.Lock()
	r.status, r.result, r.message, r.updatedAt = mcp.TaskStatusFailed, body, e.Message, time.Now().UTC()
	r.mu.Unlock()
	if r.store != nil {
		r.store(r)
	}
	close(r.done)
}

func (r *taskRun) setMessage(m string) {
	r.mu.Lock()
	r.message, r.updatedAt = m, time.Now().UTC()
	r.mu.Unlock()
}

func (r *taskRun) snapshot() (string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.taskID, r.message
}

// taskRuns are the runs of the server's tasks.
type taskRuns struct {
	// store keeps a run's record; nil when the server has no TaskRecords.
	store func(*taskRun)

	mu      sync.Mutex
	pending map[context.Context]*taskRun
	byKey   map[string]*taskRun
	byTask  map[string]*taskRun
}

func newTaskRuns() *taskRuns {
	return &taskRuns{pending: map[context.Context]*taskRun{}, byKey: map[string]*taskRun{}, byTask: map[string]*taskRun{}}
}

// forget drops an ended run (its record stays in the store).
func (tr *taskRuns) forget(r *taskRun) {
	tr.mu.Lock()
	delete(tr.byKey, r.key)
	if tr.byTask[r.taskID] == r {
		delete(tr.byTask, r.taskID)
	}
	tr.mu.Unlock()
}

// wait waits until every run started so far has ended (its result
// stored), or until ctx ends; it returns how many had not.
func (tr *taskRuns) wait(ctx context.Context) int {
	tr.mu.Lock()
	runs := slices.Collect(maps.Values(tr.byKey))
	tr.mu.Unlock()
	for i, r := range runs {
		select {
		case <-r.done:
		case <-ctx.Done():
			left := 0
			for _, r := range runs[i:] {
				select {
				case <-r.done:
				default:
					left++
				}
			}
			return left
		}
	}
	return 0
}

// hooks wires the runs to mcp-go's request and task hooks.
func (tr *taskRuns) hooks(h *mcpserver.Hooks, th *mcpserver.TaskHooks) {
	h.AddBeforeCallTool(func(ctx context.Context, _ any, req *mcp.CallToolRequest) {
		if req.Params.Meta != nil {
			delete(req.Params.Meta.AdditionalFields, taskRunMetaKey)
		}
		if req.Params.Task == nil {
			return
		}
		run := &taskRun{key: uuid.NewString(), ready: make(chan struct{}), done: make(chan struct{}),
			tool: req.Params.Name, status: mcp.TaskStatusWorking, store: tr.store}
		run.owner = taskOwner(ctx)
		if req.Params.Task.TTL != nil {
			run.ttl = time.Duration(*req.Params.Task.TTL) * time.Millisecond
		}
		tr.mu.Lock()
		tr.pending[ctx] = run
		tr.byKey[run.key] = run
		tr.mu.Unlock()
		if req.Params.Meta == nil {
			req.Params.Meta = &mcp.Meta{}
		}
		if req.Params.Meta.AdditionalFields == nil {
			req.Params.Meta.AdditionalFields = map[string]any{}
		}
		req.Params.Meta.AdditionalFields[taskRunMetaKey] = run.key
	})
	th.AddOnTaskCreated(func(ctx context.Context, m mcpserver.TaskMetrics) {
		tr.mu.Lock()
		run := tr.pending[ctx]
		delete(tr.pending, ctx)
		if run != nil {
			tr.byTask[m.TaskID] = run
		}
		tr.mu.Unlock()
		if run != nil {
			run.mu.Lock()
			run.taskID, run.createdAt, run.sessionID = m.TaskID, m.CreatedAt, m.SessionID
			run.mu.Unlock()
			if run.store != nil {
				run.store(run)
			}
			close(run.ready)
		}
	})
	// A call refused before its task was made leaves its run pending.
	forget := func(ctx context.Context) {
		tr.mu.Lock()
		if run := tr.pending[ctx]; run != nil {
			delete(tr.pending, ctx)
			delete(tr.byKey, run.key)
		}
		tr.mu.Unlock()
	}
	h.AddAfterCallTool(func(ctx context.Context, _ any, _ *mcp.CallToolRequest, _ any) { forget(ctx) })
	h.AddOnError(func(ctx context.Context, _ any, method mcp.MCPMethod, _ any, _ error) {
		if method == mcp.MethodToolsCall {
			forget(ctx)
		}
	})
	ended := func(_ context.Context, m mcpserver.TaskMetrics) {
		time.AfterFunc(taskKeep, func() {
			tr.mu.Lock()
			if run := tr.byTask[m.TaskID]; run != nil {
				delete(tr.byKey, run.key)
			}
			delete(tr.byTask, m.TaskID)
			tr.mu.Unlock()
		})
	}
	th.AddOnTaskCancelled(func(_ context.Context, m mcpserver.TaskMetrics) {
		tr.mu.Lock()
		run := tr.byTask[m.TaskID]
		tr.mu.Unlock()
		if run != nil && run.store != nil {
			run.mu.Lock()
			run.status = mcp.TaskStatusCancelled
			run.mu.Unlock()
			run.store(run)
		}
	})
	th.AddOnTaskCompleted(ended)
	th.AddOnTaskFailed(ended)
	th.AddOnTaskCancelled(ended)
	h.AddAfterGetTask(func(_ context.Context, _ any, _ *mcp.GetTaskRequest, res *mcp.GetTaskResult) {
		if res != nil {
			tr.describe(&res.Task)
			tr.refMeta(res.Task.TaskId, &res.Result.Meta)
		}
	})
	h.AddAfterListTasks(func(_ context.Context, _ any, _ *mcp.ListTasksRequest, res *mcp.ListTasksResult) {
		if res == nil {
			return
		}
		for i := range res.Tasks {
			tr.describe(&res.Tasks[i])
		}
	})
}

// describe sets the task's statusMessage to the step its tool last
// reported, unless mcp-go gave it one of its own (why it failed or was
// cancelled).
func (tr *taskRuns) describe(t *mcp.Task) {
	tr.mu.Lock()
	run := tr.byTask[t.TaskId]
	tr.mu.Unlock()
	if run == nil {
		return
	}
	if _, msg := run.snapshot(); msg != "" && (t.StatusMessage == "" || !t.Status.IsTerminal()) {
		t.StatusMessage = msg
	}
}

// taskRefMetaKey is the _meta key of tasks/get results naming the object
// a task works on (a transfer: call_id, transfer_id), which get_call shows
// even after a restart, when the task itself is gone.
const taskRefMetaKey = "voicedock/task-object"

// refMeta puts the run's object into meta.
func (tr *taskRuns) refMeta(taskID string, meta **mcp.Meta) {
	tr.mu.Lock()
	run := tr.byTask[taskID]
	tr.mu.Unlock()
	if run == nil {
		return
	}
	run.mu.Lock()
	ref := run.ref
	run.mu.Unlock()
	if ref == nil {
		return
	}
	if *meta == nil {
		*meta = &mcp.Meta{}
	}
	if (*meta).AdditionalFields == nil {
		(*meta).AdditionalFields = map[string]any{}
	}
	(*meta).AdditionalFields[taskRefMetaKey] = ref
}

// run returns the taskRun of a call that runs as a task, once mcp-go has
// made its task, or nil for a plain call.
func (tr *taskRuns) run(ctx context.Context, req mcp.CallToolRequest) *taskRun {
	if run, ok := ctx.Value(v2RunKey{}).(*taskRun); ok {
		return run // a 2026-07-28 task (see answerV2)
	}
	if tr == nil || req.Params.Task == nil || req.Params.Meta == nil {
		return nil
	}
	key, _ := req.Params.Meta.AdditionalFields[taskRunMetaKey].(string)
	tr.mu.Lock()
	run := tr.byKey[key]
	tr.mu.Unlock()
	if run == nil {
		return nil
	}
	select {
	case <-run.ready:
		return run
	case <-ctx.Done():
		return nil
	}
}

// taskStep records a step of the task's tool as its statusMessage and
// tells the client with notifications/tasks/status, where the transport
// can reach it (a session).
func taskStep(ctx context.Context, run *taskRun, message string) {
	run.setMessage(message)
	srv := mcpserver.ServerFromContext(ctx)
	if srv == nil {
		return
	}
	run.mu.Lock()
	id, created := run.taskID, run.createdAt
	run.mu.Unlock()
	_ = srv.SendNotificationToClient(ctx, string(mcp.MethodNotificationTasksStatus), map[string]any{
		"taskId": id, "status": mcp.TaskStatusWorking, "statusMessage": message,
		"createdAt": created.UTC().Format(time.RFC3339), "lastUpdatedAt": time.Now().UTC().Format(time.RFC3339),
	})
}
