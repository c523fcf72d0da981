package main

import (
	"context"
	binenc "encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/zaf/g711"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/sip/sipptest"
	"github.com/voicedock/voicedock/speech"
)

// chatCompletions is a local server speaking the chat completions API in
// place of the paid endpoint: each request is checked by the test and
// answered with the next scripted answer.
type chatCompletions struct {
	mu       sync.Mutex
	requests []map[string]any
	answers  []string
	check    func(n int, body map[string]any) error
	failed   []string
}

func (c *chatCompletions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	err := json.Unmarshal(b, &body)
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.requests)
	c.requests = append(c.requests, body)
	switch {
	case r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer sk-local-test":
		c.failed = append(c.failed, "request "+r.URL.Path+" with Authorization "+r.Header.Get("Authorization"))
	case err != nil:
		c.failed = append(c.failed, "request body: "+err.Error())
	default:
		if err := c.check(n, body); err != nil {
			c.failed = append(c.failed, err.Error())
		}
	}
	if n >= len(c.answers) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":{"message":"no more scripted answers"}}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, c.answers[n])
}

func (c *chatCompletions) seen() ([]map[string]any, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.requests...), append([]string(nil), c.failed...)
}

type wrongRequest string

func (e wrongRequest) Error() string { return string(e) }

// spoken is what the caller says, as espeak-ng speaks it.
const spoken = "I want to talk to a human"

// callerSpeaks sends text, spoken by espeak-ng, from the caller's RTP
// socket to the server as a phone would: G.711 in the payload type the
// server sends (0 PCMU, 8 PCMA), 20 ms a packet, in real time.
func callerSpeaks(t *testing.T, ear *rtpEar, server netip.AddrPort, pt uint8, text string) {
	t.Helper()
	p, err := (&speech.ESpeak{}).Synthesize(context.Background(), text, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	samples := p.To8k().Samples
	// Half a second of silence after the words ends the utterance.
	samples = append(samples, make([]int16, audio.Rate8k/2)...)
	pace := time.NewTicker(20 * time.Millisecond)
	defer pace.Stop()
	for i := 0; i*160 < len(samples); i++ {
		frame := samples[i*160 : min(len(samples), (i+1)*160)]
		lpcm := make([]byte, 2*len(frame))
		for j, v := range frame {
			binenc.LittleEndian.PutUint16(lpcm[2*j:], uint16(v))
		}
		payload := g711.EncodeUlaw(lpcm)
		if pt == 8 {
			payload = g711.EncodeAlaw(lpcm)
		}
		<-pace.C
		ear.send(t, server, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: uint16(100 + i), Timestamp: uint32(160 * i), SSRC: 0xCA11E5, Marker: i == 0}, Payload: payload})
	}
}

// The assistant's model is asked with what the caller said and the
// assistant's transfer_call as a function tool; the transfer it chooses is
// a real REFER, followed by the sipp caller to the sipp target and tracked
// to completion like any transfer.
//
// The caller says "I want to talk to a human" on the call's RTP; the
// server's speech-to-text (the local default engine) turns it into the
// caller's line, which the model gets as the last user message. The local
// engine is weak on espeak-ng's voice over G.711, so the test holds the
// model's line to what was stored as the caller's transcript, not to the
// words spoken.
func TestModelTransfersTheCallerToAHuman(t *testing.T) {
	t.Parallel()
	needESpeak(t)
	var gotMu sync.Mutex
	var modelGot string // the caller's line as the model got it
	endpoint := &chatCompletions{
		answers: []string{`{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
			"tool_calls":[{"id":"call_1","type":"function","function":{"name":"transfer_call","arguments":"{\"destination\":\"` + salesNumber + `\"}"}}]}}]}`},
		check: func(n int, body map[string]any) error {
			if body["model"] != "gpt-4o-mini" || body["temperature"] != 0.2 {
				return wrongRequest("model and temperature: " + toJSON(body["model"]) + " " + toJSON(body["temperature"]))
			}
			msgs, _ := body["messages"].([]any)
			want := `[{"content":"You answer the phone for Acme. Transfer to a human when asked.","role":"system"},{"content":"Acme, good morning.","role":"assistant"}]`
			if len(msgs) < 3 || toJSON(msgs[:2]) != want {
				return wrongRequest("messages " + toJSON(msgs) + ", want them to begin " + want)
			}
			// The caller's words come last, as their transcript.
			last, _ := msgs[len(msgs)-1].(map[string]any)
			content, _ := last["content"].(string)
			if last["role"] != "user" || strings.TrimSpace(content) == "" {
				return wrongRequest("the caller's line " + toJSON(last))
			}
			gotMu.Lock()
			modelGot = content
			gotMu.Unlock()
			tools, _ := body["tools"].([]any)
			if len(tools) != 1 {
				return wrongRequest("tools " + toJSON(body["tools"]))
			}
			fn, _ := tools[0].(map[string]any)["function"].(map[string]any)
			desc, _ := fn["description"].(string)
			enum := toJSON(fn["parameters"].(map[string]any)["properties"].(map[string]any)["destination"].(map[string]any)["enum"])
			if fn["name"] != "transfer_call" || enum != `["`+salesNumber+`"]` || !strings.Contains(desc, salesNumber+": a human in sales") {
				return wrongRequest("transfer_call tool " + toJSON(fn))
			}
			return nil
		},
	}
	srv := httptest.NewServer(endpoint)
	defer srv.Close()

	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "100")
	c, logs := stdioServerVersion(t, "2025-11-25", t.TempDir(), "VOICEDOCK_LLM_URL="+srv.URL+"/v1", "VOICEDOCK_LLM_KEY=sk-local-test")
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	a := mustCall(t, c, "create_assistant", `{"name":"Front desk","first_message":"Acme, good morning.","llm_config":{"provider":"openai","model":"gpt-4o-mini","temperature":0.2,
		"messages":[{"role":"system","content":"You answer the phone for Acme. Transfer to a human when asked."}],
		"tools":[{"type":"transfer_call","destinations":[{"type":"number","number":"`+salesNumber+`","description":"a human in sales","message":"Connecting you to a colleague."}]}]}}`)
	tr := mustCall(t, c, "configure_trunk", `{"name":"PBX","host":"127.0.0.1","port":`+strconv.Itoa(target.Port())+`}`)
	mustCall(t, c, "create_phone_number", `{"phone_number":"`+ourNumber+`","assistant_id":"`+field(a, "assistant", "id")+`","transfer_trunk_id":"`+field(tr, "trunk", "id")+`"}`)

	ear := listenRTP(t)
	caller := sipptest.Start(t, "uac_media_transfer.xml", line.sipAddr, sipptest.Options{}, "-s", strings.TrimPrefix(ourNumber, "+"), "-set", "rtpport", ear.port())
	callID := line.answered(t)
	// The server's first packet (the greeting, or a keepalive) says where
	// its RTP is, and in which codec.
	first := ear.waitUntil(t, "the server's first RTP packet", 10*time.Second, func(h []heard) bool { return len(h) > 0 })[0]

	// A client that takes over stops the model: it may add context, not
	// have the model answer, until it hands the call back.
	mustCall(t, c, "control_call", `{"call_id":"`+callID+`","command":{"type":"take-over"}}`)
	if r := call(t, c, "control_call", `{"call_id":"`+callID+`","command":{"type":"inject-context","content":"x","trigger_response":true}}`); r.errorCode() != "conflict" {
		t.Fatalf("inject-context with trigger_response while taken over: %s", r.text)
	}
	mustCall(t, c, "control_call", `{"call_id":"`+callID+`","command":{"type":"hand-back"}}`)
	if r := call(t, c, "control_call", `{"call_id":"`+callID+`","command":{"type":"inject-context","content":"x"}}`); r.errorCode() != "missing_field" || r.errorParam() != "command.trigger_response" {
		t.Fatalf("inject-context without trigger_response: %s", r.text)
	}

	callerSpeaks(t, ear, first.from, first.pkt.PayloadType, spoken)

	status, reason := line.ended(t, callID)
	caller.Wait(t)
	target.Wait(t)
	if status != "transferred" || reason != "transferred" {
		t.Errorf("call ended %s/%s", status, reason)
	}
	got := mustCall(t, c, "get_call", `{"id":"`+callID+`"}`)
	transfers, _ := got.structured["call"].(map[string]any)["transfers"].([]any)
	if len(transfers) != 1 {
		t.Fatalf("transfers: %s", got.json)
	}
	x := transfers[0].(map[string]any)
	if x["status"] != "completed" || x["sip_status"] != float64(200) || x["requested_by"] != "assistant-model" || x["message"] != "Connecting you to a colleague." ||
		!strings.HasPrefix(x["refer_to"].(string), "sip:"+salesNumber+"@127.0.0.1:") {
		t.Errorf("transfer: %v", x)
	}
	// The model was asked once: a completed transfer ends its part.
	logs.waitFor(t, regexp.MustCompile(`msg="model tool call" call_id=`+regexp.QuoteMeta(callID)+` tool=transfer_call result="\{\\"destination\\":\\"\`+salesNumber+`\\",\\"status\\":\\"completed\\"\}"`), 0, 10*time.Second)
	requests, failed := endpoint.seen()
	if len(failed) > 0 || len(requests) != 1 {
		t.Fatalf("%d requests; wrong: %q\nserver log:\n%s", len(requests), failed, logs)
	}
	// What the model got is what the server heard and stored.
	gotMu.Lock()
	defer gotMu.Unlock()
	transcript := mustCall(t, c, "get_transcript", `{"call_id":"`+callID+`"}`)
	if !strings.Contains(string(transcript.json), `"role":"user"`) || !strings.Contains(string(transcript.json), toJSON(modelGot)) {
		t.Errorf("the model got the caller's line %q; the stored transcript: %s", modelGot, transcript.json)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
