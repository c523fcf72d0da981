//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// Without a speech-to-text engine (pocketsphinx not on the server's PATH)
// the server says so at start; calls are still answered and the keys the
// caller presses still reach the agent, the speech untranscribed.
func TestNoSpeechEngineCallsStillWork(t *testing.T) {
	t.Parallel()
	// A PATH with espeak-ng and nothing else.
	bin := t.TempDir()
	espeak, err := exec.LookPath("espeak-ng")
	if err != nil {
		t.Fatalf("espeak-ng (scripts/test.sh installs it): %v", err)
	}
	if err := os.Symlink(espeak, filepath.Join(bin, "espeak-ng")); err != nil {
		t.Fatal(err)
	}
	c, logs := stdioServerVersion(t, "2025-11-25", t.TempDir(), "PATH="+bin)
	logs.waitFor(t, regexp.MustCompile(`no speech-to-text engine is available: pocketsphinx is not installed`), 0, 20*time.Second)
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	a := mustCall(t, c, "create_assistant", `{"name":"Front desk"}`)
	mustCall(t, c, "configure_trunk", `{"name":"PBX","host":"127.0.0.1","port":`+strconv.Itoa(sipptest.FreePort(t))+`}`)
	mustCall(t, c, "create_phone_number", `{"phone_number":"`+ourNumber+`","assistant_id":"`+field(a, "assistant", "id")+`"}`)

	caller := sipptest.Start(t, "uac_conversation.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	var keys []string
	after := ""
	for len(keys) < 2 {
		r := waitForCaller(t, c, callID, after)
		d, _ := r.structured["digit"].(map[string]any)
		if d == nil {
			t.Fatalf("wait_for_caller: %s", r.json)
		}
		keys = append(keys, d["digit"].(string))
		after = d["id"].(string)
	}
	// sipp sends the 5 as RTP from a thread of its own and the 7 in a SIP
	// INFO a second later; on a loaded machine that thread can be later
	// than the INFO (a fresh clone's run heard 7 first). Each key once is
	// what this test is about; the order is the conversation tests'.
	slices.Sort(keys)
	if strings.Join(keys, "") != "57" {
		t.Errorf("keys %v, want 5 and 7", keys)
	}
	mustCall(t, c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
	tr := mustCall(t, c, "get_transcript", `{"call_id":"`+callID+`"}`)
	if tr.structured["total"] != float64(0) {
		t.Fatalf("lines without an engine: %s", tr.json)
	}
}

// A speech-to-text setting that makes no sense stops the server at start.
func TestBadSpeechToTextSettingRefused(t *testing.T) {
	t.Parallel()
	for _, env := range []string{"VOICEDOCK_STT_PROVIDER=deepgram", "VOICEDOCK_STT_BASE_URL=ftp://x"} {
		cmd := exec.Command(binary, "serve", "--transport", "stdio")
		cmd.Env = baseEnv(t.TempDir(), env)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "VOICEDOCK_STT_") {
			t.Errorf("%s: %v\n%s", env, err, out)
		}
	}
}
