package pgtest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/voicedock/voicedock/store/postgres/pgtest"
)

// startCluster starts a cluster of the test's own, and a context for the
// test's minute; the test stops the cluster.
func startCluster(t *testing.T) (context.Context, *pgtest.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	c, err := pgtest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, c
}

// TestClusterStartsAndStops starts a cluster of its own, uses two
// databases of it, and checks that stopping it ends the server and
// removes its folder.
func TestClusterStartsAndStops(t *testing.T) {
	t.Parallel()
	ctx, c := startCluster(t)
	defer c.Stop()
	a, b := c.NewDatabase(t), c.NewDatabase(t)
	if a == b {
		t.Fatalf("two databases with one URL %s", a)
	}
	for _, url := range []string{a, b} {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		var listen string
		if err := conn.QueryRow(ctx, "SHOW listen_addresses").Scan(&listen); err != nil {
			t.Fatal(err)
		}
		if listen != "127.0.0.1" {
			t.Errorf("listen_addresses %q", listen)
		}
		conn.Close(ctx)
	}
	dir := c.Dir()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if conn, err := pgx.Connect(ctx, a); err == nil {
		conn.Close(ctx)
		t.Fatal("the server still answers after Stop")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s is still there after Stop (%v)", dir, err)
	}
}

// TestServerDoesNotOutliveItsTests runs a test binary that starts a
// cluster and is killed before it can stop it, as go test kills one on its
// timeout: the watchdog stops the server and removes its folder.
func TestServerDoesNotOutliveItsTests(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		c, err := pgtest.Start(context.Background())
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		pid, _ := os.ReadFile(filepath.Join(c.Dir(), "data", "postmaster.pid"))
		line, _, _ := strings.Cut(string(pid), "\n")
		fmt.Printf("started %s %s\n", line, c.Dir())
		os.Stdout.Sync()
		select {} // until killed
	}
	t.Parallel()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestServerDoesNotOutliveItsTests$")
	cmd.Env = append(os.Environ(), "PGTEST_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	var dir string
	if _, err := fmt.Fscanf(out, "started %d %s\n", &pid, &dir); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the child did not start a cluster: %v", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil || exists(dir) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			os.RemoveAll(dir)
			t.Fatalf("server %d or folder %s still there after its tests were killed", pid, dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestClusterPausesAndResumes: a paused server refuses connections, and
// once resumed serves the data it had, on the same URL.
func TestClusterPausesAndResumes(t *testing.T) {
	t.Parallel()
	ctx, c := startCluster(t)
	defer c.Stop()
	url := c.NewDatabase(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	if err := c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("a connection made before the pause still works")
	}
	conn.Close(ctx)
	if conn, err := pgx.Connect(ctx, url); err == nil {
		conn.Close(ctx)
		t.Fatal("the server still answers while paused")
	}
	if err := c.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != 7 {
		t.Fatalf("after the pause: %d, %v", v, err)
	}
}
