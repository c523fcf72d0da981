package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// What a call behind the store keeps (store_behind.go) is in memory, and
// a process that stops before the store takes it would lose it: the
// call's real end, its transcript lines and its webhooks, the
// end-of-call-report among them; the next start's recovery could only end
// the call again, as server_restart. So each change of it is also written
// to a file of its own in CallsConfig.KeptDir, a folder of this process
// alone (the data directory's, which one process holds at a time), and
// the next start writes those files to the store before it recovers
// anything (writeKeptCalls). A file is replaced whole, by a rename, so
// that a process stopped half way through writing it leaves the one
// before.

// keptTemp begins the name of a file being written (writeFileAtomic).
const keptTemp = ".kept-"

// keptFile is the state a call behind the store keeps, as written to its
// file. Call's JSON is the API's, which leaves out the signalling facts,
// and a delivery's leaves out its body: both are written beside.
type keptFile struct {
	Call       Call           `json:"call"`
	Signalling keptSignalling `json:"signalling"`
	Webhooks   []keptDelivery `json:"webhooks,omitempty"`
	Rows       []keptFileRow  `json:"rows,omitempty"`
}

type keptSignalling struct {
	SIPCallID  string `json:"sip_call_id,omitempty"`
	RemoteAddr string `json:"remote_addr,omitempty"`
	TrunkID    string `json:"trunk_id,omitempty"`
	Node       string `json:"node,omitempty"`
}

type keptDelivery struct {
	WebhookDelivery
	Body json.RawMessage `json:"body"`
}

type keptFileRow struct {
	Line     *TranscriptLine `json:"line,omitempty"`
	Digit    *Digit          `json:"digit,omitempty"`
	Webhooks []keptDelivery  `json:"webhooks,omitempty"`
}

func keptDeliveries(ds []WebhookDelivery) []keptDelivery {
	out := make([]keptDelivery, len(ds))
	for i, d := range ds {
		out[i] = keptDelivery{WebhookDelivery: d, Body: d.Body}
	}
	return out
}

func webhookDeliveries(ds []keptDelivery) []WebhookDelivery {
	out := make([]WebhookDelivery, len(ds))
	for i, d := range ds {
		out[i] = d.WebhookDelivery
		out[i].Body = d.Body
	}
	return out
}

// newKeptFile is lc's kept state; lc.mu is held.
func newKeptFile(lc *liveCall) keptFile {
	f := keptFile{
		Call: lc.call,
		Signalling: keptSignalling{SIPCallID: lc.call.SIPCallID, RemoteAddr: lc.call.RemoteAddr,
			TrunkID: lc.call.TrunkID, Node: lc.call.Node},
		Webhooks: keptDeliveries(lc.kept),
	}
	for _, r := range lc.keptRows {
		f.Rows = append(f.Rows, keptFileRow{Line: r.Line, Digit: r.Digit, Webhooks: keptDeliveries(r.Webhooks)})
	}
	return f
}

// liveCall is the call behind the store the file kept.
func (f keptFile) liveCall() *liveCall {
	c := f.Call
	c.SIPCallID, c.RemoteAddr, c.TrunkID, c.Node = f.Signalling.SIPCallID, f.Signalling.RemoteAddr, f.Signalling.TrunkID, f.Signalling.Node
	lc := &liveCall{call: c, announced: c.Status, behind: true, kept: webhookDeliveries(f.Webhooks)}
	for _, r := range f.Rows {
		lc.keptRows = append(lc.keptRows, keptRow{Line: r.Line, Digit: r.Digit, Webhooks: webhookDeliveries(r.Webhooks)})
	}
	return lc
}

// keptPath is the file of the call with that id, "" when there is no
// KeptDir or the id could not be a file's name (ids are the server's own,
// but a path is not made of what was not checked).
func (m *Calls) keptPath(id string) string {
	if m.cfg.KeptDir == "" || id == "" || strings.ContainsAny(id, `/\`) || strings.HasPrefix(id, ".") {
		return ""
	}
	return filepath.Join(m.cfg.KeptDir, id+".json")
}

// saveKeptLocked writes lc's kept state to its file, replacing the one
// before; lc.mu is held. A file that cannot be written leaves the state
// in memory only, as without KeptDir.
func (m *Calls) saveKeptLocked(ctx context.Context, lc *liveCall) {
	path := m.keptPath(lc.call.ID)
	if path == "" || !lc.behind {
		return
	}
	if err := writeFileAtomic(path, newKeptFile(lc)); err != nil {
		m.logger.ErrorContext(ctx, "write the call's kept state to its file: a stop before the store takes it loses it",
			"call_id", lc.call.ID, "err", err)
	}
}

// removeKeptLocked removes lc's file once the store took its state or it
// was given up; lc.mu is held.
func (m *Calls) removeKeptLocked(lc *liveCall) {
	path := m.keptPath(lc.call.ID)
	if path == "" {
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		m.logger.Error("remove the file of a call's kept state", "call_id", lc.call.ID, "err", err)
	}
}

// writeFileAtomic writes v's JSON to path by a rename of a file written
// and synced beside it, and syncs the folder, so that path holds either
// the state before or this one, whole, after a crash.
func writeFileAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, keptTemp+"*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeKeptCalls writes to the store the state of calls behind it that a
// process before this one kept in KeptDir and did not write before it
// stopped, and reports how many calls it wrote. It runs before recovery,
// which then ends those the files left live, as it ends any call of a
// process gone. A call another node took over meanwhile has ended there,
// its webhooks sent: its file is dropped, not written over that end. The
// store down (as it may still be) fails the start, the files kept.
func (m *Calls) writeKeptCalls(ctx context.Context) (int, error) {
	if m.cfg.KeptDir == "" {
		return 0, nil
	}
	entries, err := os.ReadDir(m.cfg.KeptDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the calls kept by the previous run: %w", err)
	}
	written := 0
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, keptTemp) {
			// A file being written when the process stopped: the one
			// before it, if any, is whole.
			os.Remove(filepath.Join(m.cfg.KeptDir, name))
			continue
		}
		if e.IsDir() || strings.HasPrefix(name, ".") || filepath.Ext(name) != ".json" {
			continue
		}
		path := filepath.Join(m.cfg.KeptDir, name)
		ok, err := m.writeKeptCall(ctx, path)
		if err != nil {
			return written, err
		}
		if ok {
			written++
		}
	}
	return written, nil
}

// writeKeptCall writes one file of writeKeptCalls, and removes it once
// the store took it or it is given up; ok when the store took it.
func (m *Calls) writeKeptCall(ctx context.Context, path string) (ok bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("read the call kept in %s: %w", path, err)
	}
	var f keptFile
	bad := json.Unmarshal(b, &f)
	if bad == nil && m.keptPath(f.Call.ID) != path {
		bad = fmt.Errorf("it holds call %q, not the call its name says", f.Call.ID)
	}
	if bad != nil {
		// Not one of ours, or damaged on the disk: set aside for whoever
		// looks, not tried at every start.
		m.logger.Error("a file of a call's kept state cannot be read; set aside as .bad", "file", path, "err", bad)
		return false, os.Rename(path, path+".bad")
	}
	lc := f.liveCall()
	lc.mu.Lock()
	defer lc.mu.Unlock()
	log := m.logger.With("call_id", lc.call.ID, "webhooks", len(lc.kept), "rows", len(lc.keptRows))
	if m.node != nil {
		o, err := m.node.cfg.Store.CallOwner(ctx, lc.call.ID)
		if err != nil && !HasCode(err, CodeNotFound) {
			return false, fmt.Errorf("ask who holds call %s kept by the previous run: %w", lc.call.ID, err)
		}
		if err == nil && o.Node != "" && o.Node != m.node.cfg.ID {
			log.WarnContext(ctx, "another node took over the call this node kept when it stopped; its kept state is dropped", "node", o.Node)
			return false, os.Remove(path)
		}
	}
	sctx, cancel := m.storeContext(ctx)
	defer cancel()
	err = m.retryStore(sctx, func() error { return m.writeWholeCall(sctx, lc) })
	var coded *Error
	switch {
	case err == nil:
		log.InfoContext(ctx, "the store took the state of a call the previous run kept", "status", lc.call.Status)
	case errors.As(err, &coded):
		log.ErrorContext(ctx, "the store refused the state of a call the previous run kept; given up", "err", err)
	default:
		// What writeWholeCall wrote is dropped from what is kept: the
		// next start does not write it twice.
		m.saveKeptLocked(ctx, lc)
		return false, fmt.Errorf("write call %s kept by the previous run: %w", lc.call.ID, err)
	}
	return err == nil, os.Remove(path)
}
