package main

import (
	"crypto/rand"
	"encoding/base64"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/store/postgres/pgtest"
)

// postgresCluster is the PostgreSQL server of the tests that run nodes on
// one database, started by the first of them; TestMain stops it.
var postgresCluster pgtest.Shared

// sharedDatabase returns the environment of a node on a new PostgreSQL
// database of its own: the URL, and a secret key all its nodes share.
func sharedDatabase(t *testing.T) []string {
	t.Helper()
	url := postgresCluster.Get(t).NewDatabase(t)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return []string{"VOICEDOCK_DATABASE_URL=" + url, "VOICEDOCK_SECRET_KEY=" + base64.StdEncoding.EncodeToString(key)}
}

// TestNodesShareOneDatabase runs two servers, each with its own data
// directory, on one PostgreSQL database: what one configures the other
// reads, secrets included (set, never shown), and a phone number one adds
// changes the other's next transfer policy check.
func TestNodesShareOneDatabase(t *testing.T) {
	t.Parallel()
	env := sharedDatabase(t)
	a, _ := stdioServer(t, t.TempDir(), env...)
	b, logsB := stdioServer(t, t.TempDir(), env...)
	// Node B listens for the others' changes once its LISTEN holds (it
	// then drops what it cached: kind ""); a change made before that is
	// not announced to it, so the test waits for it before changing
	// anything.
	logsB.waitFor(t, regexp.MustCompile(`configuration changed on a node sharing the store" kind=""`), 0, 10*time.Second)

	tr := mustCall(t, a, "configure_trunk", `{"name":"PBX","host":"pbx.example.com","username":"acme","password":"`+trunkPassword+`"}`)
	gt := mustCall(t, b, "get_trunk", `{"id":"`+field(tr, "trunk", "id")+`"}`)
	if field(gt, "trunk", "username") != "acme" || gt.structured["trunk"].(map[string]any)["password_set"] != true {
		t.Errorf("trunk read on the other node: %s", gt.json)
	}
	if strings.Contains(string(gt.json), trunkPassword) {
		t.Error("the other node shows the password")
	}

	// Node B has checked (and cached) that no UK destination is allowed:
	// no number of the deployment is British yet.
	const dest = `{"destination":"+442071234568"}`
	if r := mustCall(t, b, "check_destination", dest); r.structured["allowed"] != false {
		t.Fatalf("allowed before any UK number: %s", r.json)
	}
	from := len(logsB.String())
	mustCall(t, a, "create_phone_number", `{"phone_number":"+442071234567","name":"London"}`)
	logsB.waitFor(t, regexp.MustCompile(`configuration changed on a node sharing the store.*kind=phone_numbers`), from, 10*time.Second)
	if r := mustCall(t, b, "check_destination", dest); r.structured["allowed"] != true {
		t.Fatalf("node B still refuses after node A added a UK number: %s", r.json)
	}
}

// TestDatabaseURLNeedsTheSecretKey: a node on PostgreSQL without
// VOICEDOCK_SECRET_KEY would seal secrets with a key of its own, which
// the other nodes cannot open: it refuses to start, saying why.
func TestDatabaseURLNeedsTheSecretKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), binary, "serve", "--transport", "http", "--http-addr", "127.0.0.1:0")
	// The key is checked before the database is reached: nothing listens
	// at this URL, and nothing needs to.
	cmd.Env = baseEnv(dir, "VOICEDOCK_DATABASE_URL=postgres://voicedock@127.0.0.1:1/voicedock")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("the server started without VOICEDOCK_SECRET_KEY")
	}
	if !strings.Contains(string(out), "VOICEDOCK_DATABASE_URL needs VOICEDOCK_SECRET_KEY") {
		t.Errorf("the refusal does not say why:\n%s", out)
	}
}
