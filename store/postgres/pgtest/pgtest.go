// Package pgtest starts a PostgreSQL server of its own for tests: a fresh
// cluster (initdb) in a temporary folder, listening on a free loopback
// port and on a unix socket inside that folder, stopped and removed at the
// end. It never connects to, changes or stops a cluster it did not start.
//
// One cluster serves a whole test binary; each test (or suite) takes an
// empty database of its own with NewDatabase:
//
//	var cluster *pgtest.Cluster
//
//	func TestMain(m *testing.M) { pgtest.Main(m, &cluster) }
//
//	func TestX(t *testing.T) { url := cluster.NewDatabase(t); ... }
//
// PostgreSQL refuses to run as root, so when the tests run as root (CI,
// containers) initdb and the server run as the unprivileged "postgres"
// user that Debian's package creates, owning the temporary folder. When
// PostgreSQL is not installed, Start fails with a message that says how to
// install it: a test that needs the server fails rather than skips.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the cluster's superuser role; it connects without a
// password, over loopback or the socket only.
const Superuser = "postgres"

// Cluster is a running PostgreSQL server that Start made.
type Cluster struct {
	dir  string // the temporary folder: data/, sock/, server.log
	bin  string // the folder of initdb, pg_ctl and postgres
	port int
	pid  int
	cred *syscall.Credential // nil: run the tools as ourselves
	seq  atomic.Int64
	// watchdog stops the server if this process ends without Stop.
	watchdog *exec.Cmd

	// schemas is the database NewSchema makes its schemas in, made on
	// first use.
	schemasOnce sync.Once
	schemas     string
	schemasErr  error
}

// Main starts a cluster, stores it in *c, runs the tests and stops it; for
// a test binary's TestMain. A cluster that does not start fails the run.
func Main(m *testing.M, c **Cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cl, err := Start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		os.Exit(1)
	}
	*c = cl
	code := m.Run()
	if err := cl.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Start creates a cluster in a new temporary folder and starts its server.
func Start(ctx context.Context) (_ *Cluster, err error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin}
	if os.Geteuid() == 0 {
		if c.cred, err = unprivileged(); err != nil {
			return nil, err
		}
	}
	if c.dir, err = os.MkdirTemp("", "voicedock-pgtest-"); err != nil {
		return nil, fmt.Errorf("temporary folder: %w", err)
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	if err := os.Mkdir(c.sockDir(), 0o700); err != nil {
		return nil, fmt.Errorf("socket folder: %w", err)
	}
	if c.cred != nil {
		if err := chownAll(c.dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return nil, err
		}
	}
	if out, err := c.run(ctx, "initdb", "-D", c.dataDir(), "-U", Superuser, "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		hint := ""
		if c.cred != nil {
			hint = fmt.Sprintf(" (it runs as the postgres user, which must be able to reach %s: is TMPDIR a private folder?)", c.dir)
		}
		return nil, fmt.Errorf("initdb%s: %w\n%s", hint, err, out)
	}
	// The port is picked free and then handed to the server, which a
	// process between the two may take: try again on another.
	for try := 0; ; try++ {
		if c.port, err = freePort(); err != nil {
			return nil, err
		}
		out, err := c.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", c.dataDir(), "-l", c.logFile(), "-o", c.serverOptions())
		if err == nil {
			break
		}
		if try == 2 {
			log, _ := os.ReadFile(c.logFile())
			return nil, fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
		}
	}
	if c.pid, err = c.readPID(); err != nil {
		return nil, err
	}
	if err := c.startWatchdog(); err != nil {
		return nil, err
	}
	return c, nil
}

// startWatchdog starts a shell that, should this process end without
// Stop (a test binary killed on its timeout ends without running
// TestMain's rest), kills the server by its pid and removes the folder,
// so that no test server outlives its tests. Stop ends the watchdog
// first.
func (c *Cluster) startWatchdog() error {
	cmd := exec.Command("/bin/sh", "-c",
		`while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -KILL "$2" 2>/dev/null; sleep 1; rm -rf "$3"`,
		"pgtest-watchdog", strconv.Itoa(os.Getpid()), strconv.Itoa(c.pid), c.dir)
	// Its own process group: a signal to the tests' group (^C) leaves it
	// to do its work after them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the test server's watchdog: %w", err)
	}
	c.watchdog = cmd
	return nil
}

// serverOptions are the server's settings: loopback and the private
// socket only, and durability off, which tests do not need.
func (c *Cluster) serverOptions() string {
	return strings.Join([]string{
		"-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + c.sockDir(),
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=32MB",
	}, " ")
}

// Dir is the cluster's temporary folder (its data, socket and log).
func (c *Cluster) Dir() string { return c.dir }

// Port is the loopback TCP port the server listens on.
func (c *Cluster) Port() int { return c.port }

// URL is the connection URL of the database name, as the superuser.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, c.port, name)
}

// CreateDatabase creates an empty database with a new name and returns
// its URL.
func (c *Cluster) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), c.seq.Add(1))
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("connect to the test cluster: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 STRATEGY FILE_COPY"); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return c.URL(name), nil
}

// NewDatabase creates an empty database for t and returns its URL. It is
// not dropped: the whole cluster goes when the test binary ends.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	if c == nil {
		t.Fatal("pgtest: no cluster: call pgtest.Main from TestMain")
	}
	url, err := c.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// NewSchema creates an empty schema for t in a database the cluster's
// schemas share, and returns a URL whose connections use it
// (search_path): a few milliseconds, where a database of its own takes
// a hundred or more. What a test does is confined to its schema except
// what PostgreSQL keeps per database or per cluster (NOTIFY channels,
// advisory locks): a test of those takes NewDatabase.
func (c *Cluster) NewSchema(t testing.TB) string {
	t.Helper()
	if c == nil {
		t.Fatal("pgtest: no cluster: call pgtest.Main from TestMain")
	}
	c.schemasOnce.Do(func() { c.schemas, c.schemasErr = c.CreateDatabase(context.Background()) })
	if c.schemasErr != nil {
		t.Fatal(c.schemasErr)
	}
	name := fmt.Sprintf("test_%d", c.seq.Add(1))
	conn, err := pgx.Connect(t.Context(), c.schemas)
	if err != nil {
		t.Fatalf("connect to the test cluster: %v", err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	if _, err := conn.Exec(t.Context(), "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("create schema %s: %v", name, err)
	}
	return c.schemas + "&search_path=" + name
}

// Stop stops the server (a fast shutdown, then SIGKILL of its pid if it
// is still alive) and removes the temporary folder.
func (c *Cluster) Stop() error {
	var errs []error
	if c.watchdog != nil {
		_ = c.watchdog.Process.Kill()
		_ = c.watchdog.Wait() // killed: its error says so
		c.watchdog = nil
	}
	if c.pid > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := c.run(ctx, "pg_ctl", "stop", "-m", "fast", "-w", "-t", "20", "-D", c.dataDir())
		cancel()
		if err != nil || alive(c.pid) {
			if kerr := syscall.Kill(c.pid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
				errs = append(errs, fmt.Errorf("kill the test server %d: %w", c.pid, kerr))
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("pg_ctl stop: %w\n%s", err, out))
			}
		}
		c.pid = 0
	}
	if c.dir != "" {
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", c.dir, err))
		}
		c.dir = ""
	}
	return errors.Join(errs...)
}

// Pause stops the server as a database failing over or restarting does:
// connections are cut and new ones refused. Its data stays; Resume starts
// it again.
func (c *Cluster) Pause(ctx context.Context) error {
	if c.pid <= 0 {
		return errors.New("pgtest: the server is not running")
	}
	if out, err := c.run(ctx, "pg_ctl", "stop", "-m", "fast", "-w", "-t", "20", "-D", c.dataDir()); err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	// Its watchdog watched a pid that is gone; Resume starts another.
	if c.watchdog != nil {
		_ = c.watchdog.Process.Kill()
		_ = c.watchdog.Wait() // killed: its error says so
		c.watchdog = nil
	}
	c.pid = 0
	return nil
}

// Resume starts a paused server again, on the same port and socket.
func (c *Cluster) Resume(ctx context.Context) (err error) {
	if c.pid > 0 {
		return errors.New("pgtest: the server is running")
	}
	if out, err := c.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", c.dataDir(), "-l", c.logFile(), "-o", c.serverOptions()); err != nil {
		log, _ := os.ReadFile(c.logFile())
		return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	if c.pid, err = c.readPID(); err != nil {
		return err
	}
	return c.startWatchdog()
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }
func (c *Cluster) sockDir() string { return filepath.Join(c.dir, "sock") }
func (c *Cluster) logFile() string { return filepath.Join(c.dir, "server.log") }

// run runs one of the server's tools, as the unprivileged user when we
// are root, and returns what it printed.
func (c *Cluster) run(ctx context.Context, tool string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, tool), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGTZ=UTC")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// pg_ctl start leaves the server running with our stdout as its
	// output unless -l redirects it (it does); WaitDelay keeps a child
	// holding the pipe from hanging us.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.Bytes(), err
}

// readPID reads the postmaster's pid from its pid file.
func (c *Cluster) readPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(c.dataDir(), "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("read the server's pid: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("postmaster.pid: bad pid %q", line)
	}
	return pid, nil
}

// findBin returns the newest /usr/lib/postgresql/N/bin that has initdb and
// pg_ctl.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL is not installed: no initdb and pg_ctl under /usr/lib/postgresql/*/bin; " +
		"install Debian's server package (apt-get install postgresql), as scripts/test.sh does")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// unprivileged is the credential of the "postgres" user, for running the
// server's tools when we are root.
func unprivileged() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses root: no \"postgres\" user to run it as (%w); install Debian's postgresql package, which creates it", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user postgres: bad uid %q or gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func chownAll(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("give %s to the postgres user: %w", p, err)
		}
		return nil
	})
}

// freePort returns a loopback TCP port nobody listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// alive reports whether a process with the pid exists.
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// Shared is a cluster started on first use: for a test binary of which
// only some tests need PostgreSQL, so that the others do not wait for
// it. Its zero value is ready; Stop it from TestMain after m.Run.
type Shared struct {
	once    sync.Once
	cluster *Cluster
	err     error
}

// Get returns the cluster, starting it the first time; a cluster that
// does not start fails t.
func (s *Shared) Get(t testing.TB) *Cluster {
	t.Helper()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s.cluster, s.err = Start(ctx)
	})
	if s.err != nil {
		t.Fatalf("pgtest: %v", s.err)
	}
	return s.cluster
}

// Stop stops the cluster if Get started one.
func (s *Shared) Stop() error {
	var err error
	s.once.Do(func() {}) // none started, and none will be
	if s.cluster != nil {
		err = s.cluster.Stop()
	}
	return err
}
