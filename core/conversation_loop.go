package core

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// maxModelRounds bounds the completions one caller line leads to: the
// answer, and one more after each round of tool calls (a failed transfer
// the model explains to the caller), so that a model calling tools in a
// loop cannot hold a call forever.
const maxModelRounds = 3

// maxHistory bounds the conversation a call keeps and sends with each
// completion: a long call keeps its latest messages, after
// llm_config.messages, which are always sent.
const maxHistory = 200

// maxEchoes bounds the replies remembered until their transcript line
// arrives (see conversation.echoes).
const maxEchoes = 16

// Conversations lets the language model of a call's assistant hold the
// conversation: each line the caller says (EventTranscript, RoleUser) is
// answered with a completion over the conversation so far, whose text is
// spoken on the call and whose tool calls (transfer_call, end_call) go
// through the same core paths as the MCP tools.
//
// One turn at a time per call. A caller line that arrives while the model
// is still thinking supersedes that completion: it is cancelled, never
// spoken, and a new one is asked with the whole conversation (a caller who
// says two things in a row gets one answer to both). A line that arrives
// once the turn acts (its reply is spoken, its transfer runs) waits for
// the turn to finish and is answered next.
//
// An MCP client watching the call can take over (TakeOver): the model is
// stopped for the call, its completion in flight dropped and its speech
// cut off, until HandBack. What the model already started in the core (a
// transfer, a hang-up) goes on to its outcome, as it would for a client.
//
// Calls of assistants without an llm_config are left alone. Idle calls
// cost no goroutine: a turn's goroutine lives while the turn runs.
type Conversations struct {
	calls  *Calls
	model  AssistantModel
	logger *slog.Logger

	mu      sync.Mutex
	convs   map[string]*conversation
	ctx     context.Context // Start's: turns run on it
	stopped bool
	turns   sync.WaitGroup
}

// conversation is one call's state; Conversations.mu guards it.
type conversation struct {
	callID string
	// assistant is the call's assistant as the call began; nil when it
	// has no llm_config (the call is not the model's).
	assistant *Assistant
	// history is the conversation after llm_config.messages: what was
	// said, the model's tool calls and their results.
	history []ModelMessage
	// held are lines that arrived while a turn acted: they follow the
	// turn's tool results, which must come right after the tool calls.
	held []ModelMessage
	// echoes are texts the model had spoken, added to history at once;
	// their transcript lines (the say path records what the server says)
	// are not added again.
	echoes []string

	pending   bool // a line arrived that no turn has answered
	followUp  bool // tool results the model has not seen yet
	running   bool // a turn goroutine runs
	acting    bool // that turn speaks or runs tools
	takenOver bool
	ended     bool

	cancelThink func() // cancels the completion in flight
	cancelRound func() // cancels the round: its completion and its speech
}

// NewConversations returns the conversation loop of calls, answered by
// model. Start runs it.
func NewConversations(calls *Calls, model AssistantModel, logger *slog.Logger) *Conversations {
	return &Conversations{calls: calls, model: model, logger: logger, convs: map[string]*conversation{}}
}

// Start subscribes to the calls' events and answers caller lines until
// ctx ends. The channel it returns is closed once the loop and every turn
// have stopped: its owner waits for it on shutdown.
func (c *Conversations) Start(ctx context.Context) <-chan struct{} {
	sub := c.calls.bus.Subscribe(func(e Event) bool {
		return (e.Type == EventTranscript && e.Line != nil) || (e.Type == EventCallStatus && !e.Call.Live())
	})
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sub.Close()
		for {
			select {
			case e, ok := <-sub.C:
				if !ok {
					return
				}
				c.handle(e)
			case <-ctx.Done():
				c.mu.Lock()
				c.stopped = true
				for _, conv := range c.convs {
					conv.stopLocked()
				}
				c.mu.Unlock()
				c.turns.Wait()
				return
			}
		}
	}()
	return done
}

func (c *Conversations) handle(e Event) {
	if e.Type == EventCallStatus {
		c.mu.Lock()
		if conv := c.convs[e.Call.ID]; conv != nil {
			conv.ended = true
			conv.stopLocked()
			delete(c.convs, e.Call.ID)
		}
		c.mu.Unlock()
		return
	}
	line := *e.Line
	if line.CallID == "" {
		line.CallID = e.Call.ID
	}
	conv := c.open(c.ctx, line.CallID)
	if conv == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if conv.assistant == nil || conv.ended {
		return
	}
	text := strings.TrimSpace(line.Content)
	switch line.Role {
	case RoleAssistant:
		if conv.echoed(text) {
			return
		}
		conv.addLocked(ModelMessage{Role: RoleAssistant, Content: text})
	case RoleUser:
		if text == "" {
			return
		}
		conv.addLocked(ModelMessage{Role: RoleUser, Content: text})
		if !conv.takenOver {
			c.answerLocked(conv)
		}
	}
}

// open returns the call's conversation, begun on first sight; nil when the
// call is not live.
func (c *Conversations) open(ctx context.Context, callID string) *conversation {
	c.mu.Lock()
	conv := c.convs[callID]
	c.mu.Unlock()
	if conv != nil {
		return conv
	}
	start, ok := c.calls.conversationStart(ctx, callID)
	if !ok {
		return nil
	}
	c.mu.Lock()
	if conv := c.convs[callID]; conv != nil {
		c.mu.Unlock()
		return conv
	}
	conv = &conversation{callID: callID, assistant: start.assistant}
	if start.assistant != nil && start.greeting != "" {
		// The caller heard first_message before saying anything.
		conv.history = append(conv.history, ModelMessage{Role: RoleAssistant, Content: start.greeting})
		conv.echoes = append(conv.echoes, start.greeting)
	}
	c.convs[callID] = conv
	c.mu.Unlock()
	// A call that ended meanwhile may have had its end handled before the
	// conversation was there to forget: a call's status changes before
	// its end is announced, so looking again tells.
	if !c.calls.isLive(callID) {
		c.mu.Lock()
		if c.convs[callID] == conv {
			delete(c.convs, callID)
		}
		conv.ended = true
		c.mu.Unlock()
		return nil
	}
	return conv
}

// answerLocked has the model answer what is pending: the completion in
// flight is superseded, or a turn starts; c.mu is held.
func (c *Conversations) answerLocked(conv *conversation) {
	if !conv.acting && c.calls.transferring(conv.callID) {
		// A transfer a client started is under way: what the caller says
		// meanwhile is in the conversation, and not answered over the
		// transfer's message. (A transfer the model started is its acting
		// turn: lines wait for its outcome.)
		return
	}
	conv.pending = true
	if conv.cancelThink != nil {
		conv.cancelThink()
	}
	if conv.running || c.stopped {
		return
	}
	conv.running = true
	c.turns.Add(1)
	go c.turn(conv)
}

// turn answers the conversation's pending lines, one round at a time,
// until nothing is left to answer.
func (c *Conversations) turn(conv *conversation) {
	defer c.turns.Done()
	rounds := 0
	for {
		c.mu.Lock()
		if conv.ended || conv.takenOver || c.stopped || (!conv.pending && !conv.followUp) || (!conv.pending && rounds >= maxModelRounds) {
			conv.running, conv.followUp = false, false
			c.mu.Unlock()
			return
		}
		if conv.pending {
			rounds = 0
		}
		conv.pending, conv.followUp = false, false
		rounds++
		roundCtx, cancelRound := context.WithCancel(c.ctx)
		thinkCtx, cancelThink := context.WithCancel(roundCtx)
		conv.cancelRound, conv.cancelThink = cancelRound, cancelThink
		req := conv.requestLocked()
		c.mu.Unlock()

		began := time.Now()
		reply, err := c.model.Complete(thinkCtx, req)

		c.mu.Lock()
		conv.cancelThink = nil
		superseded := thinkCtx.Err() != nil
		cancelThink()
		if superseded || err != nil || conv.ended || conv.takenOver || (reply.Content == "" && len(reply.ToolCalls) == 0) {
			conv.cancelRound = nil
			cancelRound()
			c.mu.Unlock()
			switch {
			case superseded:
				c.logger.Debug("model completion superseded", "call_id", conv.callID)
			case err != nil:
				// The caller's next line asks again; they hear nothing
				// for this one.
				c.logger.Error("model completion failed", "call_id", conv.callID, "err", err)
			}
			continue
		}
		reply.Content = strings.TrimSpace(reply.Content)
		conv.history = append(conv.history, ModelMessage{Role: RoleAssistant, Content: reply.Content, ToolCalls: reply.ToolCalls})
		if reply.Content != "" {
			conv.echoes = append(conv.echoes, reply.Content)
			if len(conv.echoes) > maxEchoes {
				conv.echoes = conv.echoes[1:]
			}
		}
		conv.acting = true
		c.mu.Unlock()
		c.logger.Info("model turn", "call_id", conv.callID, "round", rounds, "says", len(reply.Content) > 0, "tool_calls", toolNames(reply.ToolCalls), "latency_ms", time.Since(began).Milliseconds())

		over := c.act(roundCtx, conv, reply)

		c.mu.Lock()
		conv.acting = false
		conv.history = append(conv.history, conv.held...)
		conv.held = nil
		conv.cancelRound = nil
		cancelRound()
		if over {
			conv.ended = true
		} else if len(reply.ToolCalls) > 0 {
			conv.followUp = true
		}
		c.mu.Unlock()
	}
}

// act says the reply's text and runs its tool calls in order; it reports
// whether the call is over for the model.
func (c *Conversations) act(ctx context.Context, conv *conversation, reply ModelReply) bool {
	if reply.Content != "" {
		lc := c.calls.get(conv.callID)
		if lc == nil {
			return true
		}
		if err := c.calls.sayOn(ctx, lc, reply.Content); err != nil && ctx.Err() == nil {
			if HasCode(err, CodeCallNotActive) {
				return true
			}
			c.logger.Warn("model reply not played", "call_id", conv.callID, "err", err)
		}
	}
	over := false
	results := make([]ModelMessage, 0, len(reply.ToolCalls))
	for _, tc := range reply.ToolCalls {
		var out toolOutcome
		switch {
		case over:
			out = toolResult(map[string]any{"status": "skipped", "error": "the call is over"}, true)
		case ctx.Err() != nil:
			out = toolResult(map[string]any{"status": "skipped", "error": "stopped: an operator took over the call"}, false)
		default:
			out = c.runTool(ctx, conv.callID, tc)
			c.logger.Info("model tool call", "call_id", conv.callID, "tool", tc.Name, "result", out.result)
		}
		over = over || out.over
		results = append(results, ModelMessage{Role: RoleTool, ToolCallID: tc.ID, Content: out.result})
	}
	c.mu.Lock()
	conv.history = append(conv.history, results...)
	c.mu.Unlock()
	return over
}

// listed reports whether dest is one of the transfer destinations of the
// call's assistant.
func (c *Conversations) listed(callID, dest string) bool {
	c.mu.Lock()
	conv := c.convs[callID]
	c.mu.Unlock()
	if conv == nil || conv.assistant == nil {
		return false
	}
	for _, d := range conv.assistant.TransferDestinations() {
		if strings.EqualFold(d.Target(), dest) {
			return true
		}
	}
	return false
}

// addLocked appends a line to the conversation, after the acting turn's
// tool results when one acts; c.mu is held.
func (conv *conversation) addLocked(m ModelMessage) {
	if conv.acting {
		conv.held = append(conv.held, m)
		return
	}
	conv.history = append(conv.history, m)
}

// echoed reports whether text is the transcript of a reply the model had
// spoken (already in history), and forgets it.
func (conv *conversation) echoed(text string) bool {
	for i, e := range conv.echoes {
		if e == text {
			conv.echoes = append(conv.echoes[:i], conv.echoes[i+1:]...)
			return true
		}
	}
	return false
}

// stopLocked cancels what the conversation's turn is doing; c.mu is held.
func (conv *conversation) stopLocked() {
	if conv.cancelRound != nil {
		conv.cancelRound()
	}
}

// requestLocked is the completion for the conversation so far; c.mu is
// held.
func (conv *conversation) requestLocked() ModelRequest {
	llm := conv.assistant.LLMConfig
	msgs := make([]ModelMessage, 0, len(llm.Messages)+len(conv.history))
	for _, m := range llm.Messages {
		msgs = append(msgs, ModelMessage{Role: m.Role, Content: m.Content})
	}
	if len(conv.history) > maxHistory {
		h := conv.history[len(conv.history)-maxHistory:]
		// A tool result without its call is refused by the API.
		for len(h) > 0 && h[0].Role == RoleTool {
			h = h[1:]
		}
		conv.history = append([]ModelMessage(nil), h...)
	}
	for _, m := range conv.history {
		m.ToolCalls = append([]ModelToolCall(nil), m.ToolCalls...)
		msgs = append(msgs, m)
	}
	return ModelRequest{
		Model: llm.Model, Temperature: llm.Temperature, MaxCompletionTokens: llm.MaxCompletionTokens,
		Messages: msgs, Tools: modelTools(conv.assistant),
	}
}

func toolNames(tcs []ModelToolCall) []string {
	out := make([]string, 0, len(tcs))
	for _, tc := range tcs {
		out = append(out, tc.Name)
	}
	return out
}
