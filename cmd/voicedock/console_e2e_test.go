package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// skipBrowserEnv lets a machine without Chromium or the console's npm
// packages run the other tests; scripts/test.sh installs both and never
// sets it.
const skipBrowserEnv = "VOICEDOCK_SKIP_BROWSER_TESTS"

// browserTool returns the path of what the browser test needs, failing
// (or skipping, when skipBrowserEnv is set) with how to get it.
func browserTool(t *testing.T, path, what string) string {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return path
	}
	msg := what + " is missing (" + path + "): run scripts/test.sh, which installs it, or set " + skipBrowserEnv + "=1 to skip the browser test"
	if os.Getenv(skipBrowserEnv) != "" {
		t.Skip(msg)
	}
	t.Fatal(msg)
	return ""
}

// TestConsoleInBrowser opens the console in Debian's Chromium (driven by
// playwright-core from console/web), places a call with sipp and
// transfers it twice (the first destination is busy, the second answers),
// and checks that the page showed the call and each step of its transfers
// as they happened. The screenshot stays in
// console/web/artifacts/ (or $VOICEDOCK_ARTIFACTS_DIR) for people to look at.
func TestConsoleInBrowser(t *testing.T) {
	// Not parallel: Chromium takes a core of its own.
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
	artifacts := cmp.Or(os.Getenv("VOICEDOCK_ARTIFACTS_DIR"), filepath.Join(web, "artifacts"))
	shot := filepath.Join(artifacts, "console-e2e.png")

	// The browser signs in with a read key (the console only reads); the
	// test configures and transfers with a write key.
	const key = "console-e2e-read-0123456789abcdef"
	const opsKey = "console-e2e-ops-0123456789abcdef"
	// The target rings long enough for the page to show the ringing step:
	// 2 s was too short for Chromium on a machine running two test
	// commands at once.
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "6000")
	url, logs := httpServer(t, t.TempDir(), "VOICEDOCK_API_KEYS=ops:"+opsKey+",viewer:"+key+":read")
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	c := httpClient(t, url, map[string]string{"Authorization": "Bearer " + opsKey})
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	line.configure(t, target.Port())

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	script := exec.CommandContext(ctx, node, filepath.Join(web, "e2e", "console.mjs"))
	script.Dir = web
	script.Env = append(os.Environ(),
		"CONSOLE_URL="+strings.TrimSuffix(url, "/mcp")+"/console",
		"CONSOLE_KEY="+key,
		"SCREENSHOT="+shot,
		"CHROMIUM="+chromium,
	)
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
	// next waits for the browser's next report that starts with prefix.
	next := func(prefix string) string {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					err := script.Wait()
					t.Fatalf("the browser script ended (%v) before %q\nscript:\n%s\nserver log:\n%s", err, prefix, stderr, logs)
				}
				if rest, found := strings.CutPrefix(l, prefix); found {
					return strings.TrimSpace(rest)
				}
				t.Logf("browser: %s", l)
			case <-ctx.Done():
				t.Fatalf("no %q from the browser in time\nscript:\n%s", prefix, stderr)
			}
		}
	}

	next("ready")
	caller := sipptest.Start(t, "uac_transfer_busy_then_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	if shown := next("call "); shown != callID {
		t.Fatalf("the page shows call %s, the server answered %s", shown, callID)
	}
	busy, _ := transfer(t, c, callID, salesNumber)
	if busy.errorCode() != "transfer_failed" {
		t.Fatalf("first transfer: %s", busy.text)
	}
	next("failed")
	ok, _ := transfer(t, c, callID, salesNumber)
	if ok.isError {
		t.Fatalf("second transfer: %s", ok.text)
	}

	t.Logf("console screenshot while the transfer rings: %s", next("ringing "))
	var seen map[string][]string
	if err := json.Unmarshal([]byte(next("seen ")), &seen); err != nil {
		t.Fatal(err)
	}
	t.Logf("the page showed the transfers as %v", seen)
	okID := field(ok, "transfer", "id")
	// The page must have shown the second transfer under way, ringing,
	// before it completed: a page that only drew final states fails here.
	if s := seen[okID]; len(s) < 2 || s[len(s)-1] != "completed" || !slices.Contains(s, "ringing") {
		t.Errorf("the page showed transfer %s as %q; want it live through ringing to completed", okID, s)
	}
	if len(seen) != 2 {
		t.Errorf("the page showed %d transfers, want 2: %v", len(seen), seen)
	}
	for id, s := range seen {
		if id != okID && (len(s) == 0 || s[len(s)-1] != "failed") {
			t.Errorf("the page showed the busy transfer %s as %q; want it to end failed", id, s)
		}
	}
	for id, s := range seen {
		for i := 1; i < len(s); i++ {
			if transferRank(s[i]) < transferRank(s[i-1]) {
				t.Errorf("the page showed transfer %s going backwards: %q", id, s)
			}
		}
	}
	t.Logf("statistics: %s", next("stats "))
	path := next("screenshot ")
	if err := script.Wait(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("browser script failed: %v\n%s", err, stderr)
		}
		t.Fatal(err)
	}
	t.Logf("console screenshot: %s", path)
	caller.Wait(t)
	target.Wait(t)
}

func transferRank(status string) int {
	i := slices.Index([]string{"requested", "accepted", "trying", "ringing"}, status)
	if i < 0 {
		return 4 // completed, failed, canceled
	}
	return i
}
