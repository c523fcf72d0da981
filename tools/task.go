package tools

import (
	"context"
	"fmt"

	"github.com/voicedock/voicedock/core"
)

type taskKey struct{}

// WithTask marks ctx as running a tool call the client asked to run as a
// task: when ctx ends, the client cancelled the task (or it expired), and
// the tool stops what it started, where it can, instead of only no longer
// waiting for it as it does when a plain request is cancelled.
func WithTask(ctx context.Context) context.Context {
	return context.WithValue(ctx, taskKey{}, true)
}

// runsAsTask reports whether ctx carries a task (see WithTask).
func runsAsTask(ctx context.Context) bool {
	v, _ := ctx.Value(taskKey{}).(bool)
	return v
}

// TaskRef tells the task running a tool call which object it works on
// (for a transfer: call_id and transfer_id), so that a client holding only
// the task can find the object, and its stored outcome, with get_call.
type TaskRef func(ref map[string]string)

type taskRefKey struct{}

// WithTaskRef returns ctx carrying the task's TaskRef.
func WithTaskRef(ctx context.Context, fn TaskRef) context.Context {
	return context.WithValue(ctx, taskRefKey{}, fn)
}

func taskRefFrom(ctx context.Context) TaskRef {
	if fn, ok := ctx.Value(taskRefKey{}).(TaskRef); ok {
		return fn
	}
	return func(map[string]string) {}
}

// DescribeTransfer is the step a transfer task shows as its statusMessage
// (the text of transfer_call's progress notifications).
func DescribeTransfer(t core.Transfer) string { return describeStep(t) }

// TransferResult is what transfer_call returns for the transfer t once it
// ended, built from the stored transfer and whether its call is still
// live: the stored outcome answers for a task whose own result was lost
// (a restart while it ran, or a stop before the result was stored).
func TransferResult(t core.Transfer, callLive bool) (Result, error) {
	if t.Status == core.TransferCompleted {
		return Result{Summary: "Transferred: " + describeStep(t) + ".", Structured: TransferOutput{t}}, nil
	}
	if t.Status == core.TransferCanceled && !callLive {
		// The call ended under the transfer (a hang-up, the server
		// stopping): as the tool answers it.
		return Result{}, &core.Error{Code: core.CodeCallNotActive, Message: "transfer canceled: " + t.Reason, SIPStatus: t.SIPStatus}
	}
	if t.Status == core.TransferCanceled {
		return Result{}, core.Errorf(core.CodeTransferFailed, "transfer to %s canceled: %s; the caller is still connected", t.Destination, t.Reason)
	}
	if t.Final() {
		return Result{}, &core.Error{Code: core.CodeTransferFailed, Message: fmt.Sprintf("transfer to %s failed: %s; the caller is still connected", t.Destination, t.Reason), SIPStatus: t.SIPStatus}
	}
	return Result{Summary: fmt.Sprintf("Stopped waiting; %s. get_call shows the outcome.", describeStep(t)), Structured: TransferOutput{t}}, nil
}
