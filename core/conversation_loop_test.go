package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/llm"
	"github.com/voicedock/voicedock/store/sqlite"
)

// The conversation loop's tests: the real bus, the real SQLite store, the
// real llm client, and a local server speaking the chat completions API
// in place of the paid endpoint. The caller's lines are published on the
// bus as the hearing half publishes them (this branch has no store method
// for transcript lines yet, so they are published without being stored).

// chatTurn is one request the endpoint received; the test answers it.
type chatTurn struct {
	body   map[string]any
	ctx    context.Context // done when the client gives up the request
	answer chan<- string
}

// messages returns the request's messages as role: content lines.
func (c chatTurn) messages() []string {
	var out []string
	for _, m := range c.body["messages"].([]any) {
		m := m.(map[string]any)
		line := fmt.Sprintf("%v: %v", m["role"], m["content"])
		if tcs, ok := m["tool_calls"].([]any); ok {
			b, _ := json.Marshal(tcs)
			line += " tool_calls=" + string(b)
		}
		if id, ok := m["tool_call_id"]; ok {
			line = fmt.Sprintf("tool[%v]: %v", id, m["content"])
		}
		out = append(out, line)
	}
	return out
}

func chatEndpoint(t *testing.T) (string, <-chan chatTurn) {
	t.Helper()
	turns := make(chan chatTurn, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer sk-local" {
			t.Errorf("%s %s, Authorization %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		}
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("request: %v", err)
			return
		}
		answer := make(chan string, 1)
		turns <- chatTurn{body: body, ctx: r.Context(), answer: answer}
		select {
		case a := <-answer:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, a)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1", turns
}

func says(text string) string {
	b, _ := json.Marshal(text)
	return `{"choices":[{"index":0,"message":{"role":"assistant","content":` + string(b) + `}}]}`
}

func callsTool(content, id, name, args string) string {
	c := "null"
	if content != "" {
		b, _ := json.Marshal(content)
		c = string(b)
	}
	a, _ := json.Marshal(args)
	return `{"choices":[{"index":0,"message":{"role":"assistant","content":` + c + `,"tool_calls":[{"id":"` + id + `","type":"function","function":{"name":"` + name + `","arguments":` + string(a) + `}}]}}]}`
}

// spokenLog records, in order, what the call's media said and the REFERs.
type spokenLog struct {
	mu      sync.Mutex
	entries []string
	changed chan struct{}
}

func (l *spokenLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, s)
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

func (l *spokenLog) waitFor(t *testing.T, entry string) []string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		for _, e := range l.entries {
			if e == entry {
				out := append([]string(nil), l.entries...)
				l.mu.Unlock()
				return out
			}
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("never %q; log %q", entry, l.all())
		}
	}
}

func (l *spokenLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.entries...)
}

// loggingMedia is the call's audio as the core sees it: what is said is
// logged, and a say lasts until it is played (ctx ends, or play is
// closed when set).
type loggingMedia struct {
	log  *spokenLog
	mu   sync.Mutex
	play chan struct{}
}

// hold makes every say last until the returned function is called.
func (m *loggingMedia) hold() func() {
	play := make(chan struct{})
	m.mu.Lock()
	m.play = play
	m.mu.Unlock()
	return func() { close(play) }
}

func (m *loggingMedia) Say(ctx context.Context, callID string, u core.Utterance) error {
	m.log.add("say:" + u.Text)
	m.mu.Lock()
	play := m.play
	m.mu.Unlock()
	if play != nil {
		select {
		case <-play:
		case <-ctx.Done():
			m.log.add("cut:" + u.Text)
			return ctx.Err()
		}
	}
	return nil
}

func (m *loggingMedia) Hold(ctx context.Context, callID, _ string) (func(), error) {
	return func() {}, nil
}

func (m *loggingMedia) Bridge(ctx context.Context, a, b string) (core.BridgeStats, error) {
	return core.BridgeStats{}, nil
}

type modelFixture struct {
	calls  *core.Calls
	conv   *core.Conversations
	sip    *scriptedSIP
	store  *sqlite.Store
	log    *spokenLog
	media  *loggingMedia
	turns  <-chan chatTurn
	callID string
	stop   func()
}

func newModelFixture(t *testing.T) *modelFixture {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "vd.db"), make([]byte, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := core.NewConfiguration(st, slog.New(slog.DiscardHandler))
	temp := 0.2
	a, err := svc.CreateAssistant(ctx, core.AssistantConfig{Name: "Front desk", FirstMessage: "Hello, Acme here.", LLMConfig: &core.LLMConfig{
		Provider: "openai", Model: "gpt-4o-mini", Temperature: &temp, MaxCompletionTokens: 150,
		Messages: []core.Message{{Role: "system", Content: "You answer for Acme. Hand over to a human when asked."}},
		Tools: []core.Tool{{Type: "transfer_call", Destinations: []core.Destination{
			{Type: "number", Number: "+31612345678", Description: "sales: buying something", Message: "Connecting you to sales."},
			{Type: "sip", SIPURI: "sip:desk@pbx.example.com", Description: "the desk: anything else"},
		}}, {Type: "endCall"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tr, _, err := svc.ConfigureTrunk(ctx, "", core.TrunkConfig{Name: "pbx", Host: "127.0.0.1", Port: 5070, Transport: "tcp"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreatePhoneNumber(ctx, core.PhoneNumberConfig{PhoneNumber: "+31850835037", AssistantID: &a.ID, TransferTrunkID: &tr.ID}); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
	calls := core.NewCalls(ctx, core.CallsConfig{TransferTimeout: 5 * time.Second}, st, st, core.NewBus(), logger)
	log := &spokenLog{}
	sip := &scriptedSIP{calls: calls}
	calls.SetSignaling(sip)
	media := &loggingMedia{log: log}
	calls.SetMedia(media)

	url, turns := chatEndpoint(t)
	client, err := llm.New(llm.Config{URL: url, Key: "sk-local", Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	conv := core.NewConversations(calls, client, logger)
	loopCtx, cancel := context.WithCancel(context.Background())
	done := conv.Start(loopCtx)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("the conversation loop did not stop")
			}
		})
	}
	t.Cleanup(stop)

	f := &modelFixture{calls: calls, conv: conv, sip: sip, store: st, log: log, media: media, turns: turns, stop: stop}
	f.callID = f.answer(t, "c1")
	log.waitFor(t, "say:Hello, Acme here.")
	return f
}

// answer has a call come in and answers it.
func (f *modelFixture) answer(t *testing.T, sipCallID string) string {
	t.Helper()
	dec := f.calls.OfferCall(t.Context(), core.InboundInvite{SIPCallID: sipCallID, Called: "31850835037", Caller: "+31611122233", Source: netip.MustParseAddrPort("127.0.0.1:5099")})
	if dec.CallID == "" {
		t.Fatalf("call refused: %+v", dec)
	}
	f.calls.CallAnswered(t.Context(), dec.CallID)
	return dec.CallID
}

// transcript publishes a line of the call's conversation as the hearing
// half does once it has stored it.
func (f *modelFixture) transcript(t *testing.T, role, text string) {
	t.Helper()
	f.transcriptOn(t, f.callID, role, text)
}

func (f *modelFixture) transcriptOn(t *testing.T, callID, role, text string) {
	t.Helper()
	c, err := f.calls.GetCall(t.Context(), callID)
	if err != nil {
		t.Fatal(err)
	}
	c.Transfers = nil
	id, _ := core.NewID()
	now := time.Now().UTC()
	f.calls.Bus().Publish(core.Event{Type: core.EventTranscript, At: now, Call: c,
		Line: &core.TranscriptLine{ID: id, CallID: callID, Role: role, Content: text, StartedAt: now, EndedAt: now}})
}

func (f *modelFixture) callerSays(t *testing.T, text string) {
	t.Helper()
	f.transcript(t, core.RoleUser, text)
}

func (f *modelFixture) nextTurn(t *testing.T) chatTurn {
	t.Helper()
	select {
	case turn := <-f.turns:
		return turn
	case <-time.After(10 * time.Second):
		t.Fatal("the model was never asked")
		return chatTurn{}
	}
}

// noMoreTurns stops the loop (waiting for its turns) and checks that the
// endpoint was asked nothing more.
func (f *modelFixture) noMoreTurns(t *testing.T) {
	t.Helper()
	f.stop()
	select {
	case turn := <-f.turns:
		t.Fatalf("the model was asked again: %q", turn.messages())
	default:
	}
}

// waitStatus waits until the call has the status.
func (f *modelFixture) waitStatus(t *testing.T, status string) core.Call {
	t.Helper()
	sub := f.calls.Bus().SubscribeCall(f.callID, func(e core.Event) bool { return e.Type == core.EventCallStatus && e.Call.Status == status })
	defer sub.Close()
	if c, _ := f.calls.GetCall(t.Context(), f.callID); c.Status == status {
		return c
	}
	select {
	case <-sub.C:
	case <-time.After(10 * time.Second):
		c, _ := f.calls.GetCall(t.Context(), f.callID)
		t.Fatalf("call is %s, want %s", c.Status, status)
	}
	c, _ := f.calls.GetCall(t.Context(), f.callID)
	return c
}

func equalLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func TestModelAnswersTheCallersLine(t *testing.T) {
	f := newModelFixture(t)
	f.callerSays(t, "What are your opening hours?")
	turn := f.nextTurn(t)
	if turn.body["model"] != "gpt-4o-mini" || turn.body["temperature"] != 0.2 || turn.body["max_completion_tokens"] != float64(150) {
		t.Errorf("model %v, temperature %v, max_completion_tokens %v", turn.body["model"], turn.body["temperature"], turn.body["max_completion_tokens"])
	}
	equalLines(t, "messages", turn.messages(), []string{
		"system: You answer for Acme. Hand over to a human when asked.",
		"assistant: Hello, Acme here.",
		"user: What are your opening hours?",
	})
	tools := turn.body["tools"].([]any)
	if len(tools) != 2 {
		t.Fatalf("tools: %v", tools)
	}
	transfer := tools[0].(map[string]any)["function"].(map[string]any)
	dest := transfer["parameters"].(map[string]any)["properties"].(map[string]any)["destination"].(map[string]any)
	enum, _ := json.Marshal(dest["enum"])
	desc, _ := transfer["description"].(string)
	if transfer["name"] != "transfer_call" || string(enum) != `["+31612345678","sip:desk@pbx.example.com"]` ||
		!strings.Contains(desc, "+31612345678: sales: buying something") || !strings.Contains(desc, "sip:desk@pbx.example.com: the desk: anything else") {
		t.Errorf("transfer_call tool: %v", transfer)
	}
	if end := tools[1].(map[string]any)["function"].(map[string]any); end["name"] != "end_call" {
		t.Errorf("end_call tool: %v", end)
	}
	turn.answer <- says("We are open nine to five.")
	f.log.waitFor(t, "say:We are open nine to five.")

	// The say path records the reply as the server's line: it is in the
	// conversation once, not twice.
	f.transcript(t, core.RoleAssistant, "We are open nine to five.")
	f.callerSays(t, "Thanks, and on Sunday?")
	turn = f.nextTurn(t)
	equalLines(t, "messages", turn.messages(), []string{
		"system: You answer for Acme. Hand over to a human when asked.",
		"assistant: Hello, Acme here.",
		"user: What are your opening hours?",
		"assistant: We are open nine to five.",
		"user: Thanks, and on Sunday?",
	})
	turn.answer <- says("Closed on Sunday.")
	f.log.waitFor(t, "say:Closed on Sunday.")
	f.noMoreTurns(t)
	if c, _ := f.calls.GetCall(t.Context(), f.callID); c.Status != core.CallInProgress {
		t.Fatalf("call %s", c.Status)
	}
}

func TestModelTransferGoesThroughTheCorePath(t *testing.T) {
	f := newModelFixture(t)
	f.sip.refer = func(ctx context.Context, callID, referTo string) (int, error) {
		f.log.add("refer:" + referTo)
		f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 100})
		f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200, Reason: "OK"})
		return 202, nil
	}
	f.callerSays(t, "I want to talk to a human")
	turn := f.nextTurn(t)
	if last := turn.messages()[2]; last != "user: I want to talk to a human" {
		t.Fatalf("last message %q", last)
	}
	turn.answer <- callsTool("", "call_1", "transfer_call", `{"destination":"+31612345678"}`)
	c := f.waitStatus(t, core.CallTransferred)
	got := f.log.waitFor(t, "refer:sip:+31612345678@127.0.0.1:5070;transport=tcp")
	equalLines(t, "said and sent", got, []string{"say:Hello, Acme here.", "say:Connecting you to sales.", "refer:sip:+31612345678@127.0.0.1:5070;transport=tcp"})
	stored, err := f.store.GetCall(t.Context(), f.callID)
	if err != nil {
		t.Fatal(err)
	}
	for _, call := range []core.Call{c, stored} {
		if len(call.Transfers) != 1 {
			t.Fatalf("transfers: %+v", call.Transfers)
		}
		tr := call.Transfers[0]
		if tr.Status != core.TransferCompleted || tr.RequestedBy != core.RequestedByModel || tr.Destination != "+31612345678" || tr.Message != "Connecting you to sales." {
			t.Errorf("transfer: %+v", tr)
		}
	}
	f.noMoreTurns(t)
}

func TestFailedTransferIsToldToTheModel(t *testing.T) {
	f := newModelFixture(t)
	f.sip.refer = func(ctx context.Context, callID, referTo string) (int, error) {
		f.log.add("refer:" + referTo)
		return 603, nil
	}
	f.callerSays(t, "Get me the desk")
	f.nextTurn(t).answer <- callsTool("One moment.", "call_7", "transfer_call", `{"destination":"sip:desk@pbx.example.com"}`)
	turn := f.nextTurn(t)
	msgs := turn.messages()
	if len(msgs) != 5 || !strings.HasPrefix(msgs[3], `assistant: One moment. tool_calls=[{"function":{"arguments":"{\"destination\":\"sip:desk@pbx.example.com\"}","name":"transfer_call"},"id":"call_7"`) {
		t.Fatalf("messages %q", msgs)
	}
	var result map[string]any
	content := turn.body["messages"].([]any)[4].(map[string]any)
	if err := json.Unmarshal([]byte(content["content"].(string)), &result); err != nil || content["tool_call_id"] != "call_7" {
		t.Fatalf("tool result %v: %v", content, err)
	}
	if result["status"] != "failed" || result["sip_status"] != float64(603) || result["caller"] != "still connected to you" {
		t.Errorf("tool result %v", result)
	}
	turn.answer <- says("Sorry, the desk is not answering. Can I help?")
	got := f.log.waitFor(t, "say:Sorry, the desk is not answering. Can I help?")
	equalLines(t, "said and sent", got, []string{"say:Hello, Acme here.", "say:One moment.", "refer:sip:desk@pbx.example.com", "say:Sorry, the desk is not answering. Can I help?"})
	f.noMoreTurns(t)
	if c, _ := f.calls.GetCall(t.Context(), f.callID); c.Status != core.CallInProgress || c.Transfers[0].Status != core.TransferFailed {
		t.Fatalf("call %+v", c)
	}
}

func TestModelIsNotAllowedUnlistedDestinations(t *testing.T) {
	f := newModelFixture(t)
	f.callerSays(t, "Call +31201234567 for me")
	f.nextTurn(t).answer <- callsTool("", "call_1", "transfer_call", `{"destination":"+31201234567"}`)
	turn := f.nextTurn(t)
	msgs := turn.messages()
	if last := msgs[len(msgs)-1]; !strings.Contains(last, "destination_not_allowed") {
		t.Fatalf("tool result %q", last)
	}
	turn.answer <- says("I cannot do that.")
	f.log.waitFor(t, "say:I cannot do that.")
	f.noMoreTurns(t)
	f.sip.mu.Lock()
	defer f.sip.mu.Unlock()
	if got := f.sip.referTos; len(got) != 0 {
		t.Fatalf("REFERs %q", got)
	}
}

func TestEndCallToolHangsUp(t *testing.T) {
	f := newModelFixture(t)
	f.callerSays(t, "That's all, bye")
	f.nextTurn(t).answer <- callsTool("Goodbye!", "call_1", "end_call", `{}`)
	c := f.waitStatus(t, core.CallEnded)
	if c.EndReason != core.EndAssistantHangup {
		t.Errorf("end reason %s", c.EndReason)
	}
	equalLines(t, "said", f.log.all(), []string{"say:Hello, Acme here.", "say:Goodbye!"})
	if h := f.sip.hangups(); len(h) != 1 || h[0] != f.callID {
		t.Errorf("hang-ups %q", h)
	}
	f.noMoreTurns(t)
}

func TestCallerLineSupersedesTheCompletionInFlight(t *testing.T) {
	f := newModelFixture(t)
	f.callerSays(t, "Hello")
	first := f.nextTurn(t)
	f.callerSays(t, "I have a question about my bill")
	select {
	case <-first.ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the first completion was not cancelled")
	}
	second := f.nextTurn(t)
	equalLines(t, "messages", second.messages()[2:], []string{"user: Hello", "user: I have a question about my bill"})
	second.answer <- says("Sure, what about your bill?")
	f.log.waitFor(t, "say:Sure, what about your bill?")
	f.noMoreTurns(t)
	equalLines(t, "said", f.log.all(), []string{"say:Hello, Acme here.", "say:Sure, what about your bill?"})
}

func TestCallerLineDuringTheReplyIsAnsweredNext(t *testing.T) {
	f := newModelFixture(t)
	play := f.media.hold()
	f.callerSays(t, "Hello")
	f.nextTurn(t).answer <- says("Hi, how can I help?")
	f.log.waitFor(t, "say:Hi, how can I help?")
	f.callerSays(t, "Sales please")
	play()
	turn := f.nextTurn(t)
	equalLines(t, "messages", turn.messages()[2:], []string{"user: Hello", "assistant: Hi, how can I help?", "user: Sales please"})
	turn.answer <- says("Sure.")
	f.log.waitFor(t, "say:Sure.")
	f.noMoreTurns(t)
}

func TestTakeOverStopsTheModel(t *testing.T) {
	f := newModelFixture(t)
	ctx := t.Context()
	play := f.media.hold()
	f.callerSays(t, "Hello")
	f.nextTurn(t).answer <- says("Hi there, how can I help you today?")
	f.log.waitFor(t, "say:Hi there, how can I help you today?")
	// Taking over cuts the model's reply off.
	if err := f.conv.TakeOver(ctx, f.callID); err != nil {
		t.Fatal(err)
	}
	f.log.waitFor(t, "cut:Hi there, how can I help you today?")
	play()
	// A line while taken over is not answered; after HandBack the next is,
	// with the conversation as it went on meanwhile. The loop takes lines
	// in order, whatever their call: once another call's line is answered,
	// the first has been taken.
	f.callerSays(t, "Is anybody there?")
	other := f.answer(t, "c2")
	f.transcriptOn(t, other, core.RoleUser, "Hi")
	if turn := f.nextTurn(t); turn.messages()[2] != "user: Hi" {
		t.Fatalf("the line said while taken over was answered: %q", turn.messages())
	} else {
		turn.answer <- says("Hello!")
	}
	f.log.waitFor(t, "say:Hello!")
	if err := f.conv.HandBack(ctx, f.callID); err != nil {
		t.Fatal(err)
	}
	f.callerSays(t, "Hello again")
	turn := f.nextTurn(t)
	equalLines(t, "messages", turn.messages()[2:], []string{"user: Hello", "assistant: Hi there, how can I help you today?", "user: Is anybody there?", "user: Hello again"})
	// Taking over while the model thinks drops its completion.
	if err := f.conv.TakeOver(ctx, f.callID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-turn.ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the completion in flight was not cancelled")
	}
	// With the model stopped, a client can still add context, not ask.
	if err := f.conv.InjectContext(ctx, f.callID, "The caller is a VIP.", true); !core.HasCode(err, core.CodeConflict) {
		t.Fatalf("inject with trigger while taken over: %v", err)
	}
	f.noMoreTurns(t)
	var said []string
	for _, e := range f.log.all() {
		if e != "say:Hello, Acme here." && e != "say:Hello!" { // both calls' greetings, the other call's answer
			said = append(said, e)
		}
	}
	equalLines(t, "said", said, []string{"say:Hi there, how can I help you today?", "cut:Hi there, how can I help you today?"})

	if err := f.conv.TakeOver(ctx, "no-such-call"); !core.HasCode(err, core.CodeNotFound) {
		t.Errorf("take over of an unknown call: %v", err)
	}
}

func TestInjectContextAsksTheModel(t *testing.T) {
	f := newModelFixture(t)
	ctx := t.Context()
	if err := f.conv.InjectContext(ctx, f.callID, "The caller's order 123 shipped today.", false); err != nil {
		t.Fatal(err)
	}
	if err := f.conv.InjectContext(ctx, f.callID, "Tell the caller about it.", true); err != nil {
		t.Fatal(err)
	}
	turn := f.nextTurn(t)
	equalLines(t, "messages", turn.messages()[2:], []string{"system: The caller's order 123 shipped today.", "system: Tell the caller about it."})
	turn.answer <- says("Good news: your order shipped today.")
	f.log.waitFor(t, "say:Good news: your order shipped today.")
	f.noMoreTurns(t)
	if err := f.conv.InjectContext(ctx, f.callID, " ", true); !core.HasCode(err, core.CodeMissingField) {
		t.Errorf("empty content: %v", err)
	}
}

func TestCallEndStopsTheTurn(t *testing.T) {
	f := newModelFixture(t)
	f.callerSays(t, "Hello")
	turn := f.nextTurn(t)
	f.calls.CallEnded(t.Context(), f.callID, core.EndCallerHangup)
	select {
	case <-turn.ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the completion of an ended call was not cancelled")
	}
	f.noMoreTurns(t)
	if err := f.conv.TakeOver(t.Context(), f.callID); !core.HasCode(err, core.CodeCallNotActive) {
		t.Errorf("take over of an ended call: %v", err)
	}
}

// While a client's transfer is under way the model does not talk over it:
// the caller's lines join the conversation and are answered once the
// caller is back with the assistant.
func TestCallerLineDuringAClientTransferIsNotAnswered(t *testing.T) {
	f := newModelFixture(t)
	referred, release := make(chan struct{}), make(chan struct{})
	f.sip.refer = func(ctx context.Context, callID, referTo string) (int, error) {
		close(referred)
		<-release
		return 486, nil
	}
	transferred := make(chan error, 1)
	go func() {
		_, err := f.calls.Transfer(context.Background(), core.TransferRequest{CallID: f.callID, Destination: "sip:desk@pbx.example.com", RequestedBy: "ops"}, nil)
		transferred <- err
	}()
	<-referred
	f.callerSays(t, "Hello?")
	// Lines are taken in order, whatever their call.
	other := f.answer(t, "c2")
	f.transcriptOn(t, other, core.RoleUser, "Hi")
	if turn := f.nextTurn(t); turn.messages()[2] != "user: Hi" {
		t.Fatalf("a line during the transfer was answered: %q", turn.messages())
	} else {
		turn.answer <- says("Hello!")
	}
	close(release)
	if err := <-transferred; !core.HasCode(err, core.CodeTransferFailed) {
		t.Fatalf("transfer: %v", err)
	}
	f.callerSays(t, "Are you still there?")
	turn := f.nextTurn(t)
	equalLines(t, "messages", turn.messages()[2:], []string{"user: Hello?", "user: Are you still there?"})
	turn.answer <- says("Yes, sorry, the desk is busy.")
	f.log.waitFor(t, "say:Yes, sorry, the desk is busy.")
	f.noMoreTurns(t)
}

// A call whose assistant has no llm_config is not the model's: its lines
// are not answered, and the model's commands are unsupported on it.
func TestCallWithoutLLMConfigIsLeftAlone(t *testing.T) {
	f := newModelFixture(t)
	ctx := t.Context()
	svc := core.NewConfiguration(f.store, slog.New(slog.DiscardHandler))
	a, err := svc.CreateAssistant(ctx, core.AssistantConfig{Name: "Plain"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreatePhoneNumber(ctx, core.PhoneNumberConfig{PhoneNumber: "+31850835038", AssistantID: &a.ID}); err != nil {
		t.Fatal(err)
	}
	dec := f.calls.OfferCall(ctx, core.InboundInvite{SIPCallID: "plain", Called: "31850835038", Caller: "+31611122233", Source: netip.MustParseAddrPort("127.0.0.1:5099")})
	if dec.CallID == "" {
		t.Fatalf("call refused: %+v", dec)
	}
	f.calls.CallAnswered(ctx, dec.CallID)
	f.transcriptOn(t, dec.CallID, core.RoleUser, "Anybody?")
	// Lines are taken in order: the model's first request is for the
	// model's call.
	f.callerSays(t, "Hello")
	turn := f.nextTurn(t)
	equalLines(t, "messages", turn.messages()[2:], []string{"user: Hello"})
	turn.answer <- says("Hi!")
	f.log.waitFor(t, "say:Hi!")
	f.noMoreTurns(t)
	for _, err := range []error{f.conv.TakeOver(ctx, dec.CallID), f.conv.InjectContext(ctx, dec.CallID, "x", true)} {
		if !core.HasCode(err, core.CodeUnsupported) {
			t.Errorf("model command on a call without a model: %v", err)
		}
	}
}
