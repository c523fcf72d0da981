//go:build linux

package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// TestConsoleShowsTheConversation opens the console in Debian's Chromium
// while a sipp caller speaks and presses 5 (RFC 4733) and 7 (SIP INFO):
// the call's card shows the caller's words and both keys as they come.
func TestConsoleShowsTheConversation(t *testing.T) {
	needPocketSphinx(t)
	chromium := browserTool(t, cmp.Or(os.Getenv("CHROMIUM"), "/usr/bin/chromium"), "Debian's chromium")
	web, err := filepath.Abs(filepath.Join("..", "..", "console", "web"))
	if err != nil {
		t.Fatal(err)
	}
	browserTool(t, filepath.Join(web, "node_modules", "playwright-core", "package.json"), "playwright-core (npm ci in console/web)")
	node, err := exec.LookPath("node")
	if err != nil {
		browserTool(t, "node", "Node.js")
	}
	shot := filepath.Join(cmp.Or(os.Getenv("VOICEDOCK_ARTIFACTS_DIR"), filepath.Join(web, "artifacts")), "console-conversation.png")

	const key = "console-e2e-read-0123456789abcdef"
	const opsKey = "console-e2e-ops-0123456789abcdef"
	url, logs := httpServer(t, t.TempDir(), "VOICEDOCK_API_KEYS=ops:"+opsKey+",viewer:"+key+":read")
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	c := httpClient(t, url, map[string]string{"Authorization": "Bearer " + opsKey})
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	a := mustCall(t, c, "create_assistant", `{"name":"Front desk"}`)
	mustCall(t, c, "configure_trunk", `{"name":"PBX","host":"127.0.0.1","port":`+strconv.Itoa(sipptest.FreePort(t))+`}`)
	mustCall(t, c, "create_phone_number", `{"phone_number":"`+ourNumber+`","assistant_id":"`+field(a, "assistant", "id")+`"}`)

	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	script := exec.CommandContext(ctx, node, filepath.Join(web, "e2e", "conversation.mjs"))
	script.Dir = web
	script.Env = append(os.Environ(), "CONSOLE_URL="+strings.TrimSuffix(url, "/mcp")+"/console", "CONSOLE_KEY="+key, "SCREENSHOT="+shot, "CHROMIUM="+chromium)
	stderr := &syncBuffer{}
	script.Stderr = stderr
	out, err := script.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := script.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func(prefix string) string {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					err := script.Wait()
					t.Fatalf("the browser script ended (%v) before %q\nscript:\n%s", err, prefix, stderr)
				}
				if rest, found := strings.CutPrefix(l, prefix); found {
					return strings.TrimSpace(rest)
				}
			case <-ctx.Done():
				t.Fatalf("no %q from the browser in time\nscript:\n%s", prefix, stderr)
			}
		}
	}
	next("ready")
	caller := sipptest.Start(t, "uac_conversation.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	var heard []string
	if err := json.Unmarshal([]byte(next("heard ")), &heard); err != nil {
		t.Fatal(err)
	}
	t.Logf("the console showed %q", heard)
	var user, keys []string
	for _, h := range heard {
		switch {
		case strings.HasPrefix(h, "user: "):
			user = append(user, h)
		case strings.HasPrefix(h, "digit: "):
			keys = append(keys, strings.Fields(strings.TrimPrefix(h, "digit: "))[0])
		}
	}
	if len(user) != 1 || strings.Join(keys, "") != "57" {
		t.Errorf("the card showed %q; want the caller's line and the keys 5 and 7", heard)
	}
	t.Logf("screenshot: %s", next("screenshot "))
	if err := script.Wait(); err != nil {
		t.Fatalf("browser script: %v\n%s", err, stderr)
	}
	mustCall(t, c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
}
