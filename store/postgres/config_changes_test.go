package postgres_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/postgres"
	"github.com/voicedock/voicedock/store/storetest"
)

// waitLimit bounds every wait on another node: a test that gets there has
// failed.
const waitLimit = 10 * time.Second

// heard is a core.ConfigChanges that reports each change it passes on to
// the node, once the node has taken it in.
type heard struct {
	src  core.ConfigChanges
	seen chan string
}

func (h heard) WatchConfig(ctx context.Context, changed func(string)) error {
	return h.src.WatchConfig(ctx, func(kind string) {
		changed(kind)
		select {
		case h.seen <- kind:
		case <-ctx.Done():
		}
	})
}

// await waits for the change of kind to have been heard.
func (h heard) await(t *testing.T, kind string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case k := <-h.seen:
			if k == kind {
				return
			}
		case <-deadline:
			t.Fatalf("no change of %q heard in %v", kind, waitLimit)
		}
	}
}

// node is one voicedock node's configuration on the shared database,
// with a transfer policy that allows the countries of the deployment's
// own numbers (no VOICEDOCK_TRANSFER_ALLOWED_COUNTRIES), which it caches.
func node(t *testing.T, url string, key []byte) (*core.Configuration, heard) {
	t.Helper()
	s := open(t, url, key)
	policy, err := core.NewPolicy(core.PolicyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c := core.NewConfiguration(s, nil)
	c.SetPolicy(policy)
	h := heard{src: s, seen: make(chan string, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.FollowChanges(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("FollowChanges: %v", err)
		}
	})
	h.await(t, "") // listening
	return c, h
}

// TestNumberAddedOnOneNodeIsUsedByTheOther: node B's policy has cached
// that no country is allowed (no numbers yet); node A registers a UK
// number; B's next check allows a UK destination.
func TestNumberAddedOnOneNodeIsUsedByTheOther(t *testing.T) {
	url := newDatabase(t) // NOTIFY is per database
	key := storetest.NewKey(t)
	a, _ := node(t, url, key)
	b, heardB := node(t, url, key)
	ctx := t.Context()
	const dest = "+442071234568"

	check, err := b.CheckDestination(ctx, dest, "")
	if err != nil {
		t.Fatal(err)
	}
	if check.Allowed {
		t.Fatalf("allowed before any number: %+v", check)
	}
	if _, err := a.CreatePhoneNumber(ctx, core.PhoneNumberConfig{PhoneNumber: "+442071234567"}); err != nil {
		t.Fatal(err)
	}
	heardB.await(t, "phone_numbers")
	check, err = b.CheckDestination(ctx, dest, "")
	if err != nil {
		t.Fatal(err)
	}
	if !check.Allowed {
		t.Fatalf("node B still refuses after node A added a UK number: %s", check.Reason)
	}
}

// TestConfigWatchReconnects: the listening connection is killed; the
// watch reconnects, says anything may have changed, and hears the next
// change.
func TestConfigWatchReconnects(t *testing.T) {
	url := newDatabase(t)
	key := storetest.NewKey(t)
	a, _ := node(t, url, key)
	_, heardB := node(t, url, key)
	db := rawDB(t, url)
	res, err := db.ExecContext(t.Context(),
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 2 {
		t.Fatalf("%d listening connections ended, want the two nodes'", n)
	}
	heardB.await(t, "") // listening again
	if _, _, err := a.ConfigureTrunk(t.Context(), "", core.TrunkConfig{Name: "PBX", Host: "pbx.example.com"}, false); err != nil {
		t.Fatal(err)
	}
	heardB.await(t, "trunks")
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestNotifyReachesEveryListener: a notification one node sends is heard
// by the listeners of every node, its own included.
func TestNotifyReachesEveryListener(t *testing.T) {
	url := newDatabase(t)
	key := storetest.NewKey(t)
	a, b := open(t, url, key), open(t, url, key)
	ctx, cancel := context.WithCancel(t.Context())
	heardBy := make(chan string, 4)
	var listening sync.WaitGroup
	var done sync.WaitGroup
	for name, s := range map[string]*postgres.Store{"a": a, "b": b} {
		listening.Add(1)
		var once sync.Once
		done.Go(func() {
			err := s.Listen(ctx, "voicedock test", func() { once.Do(listening.Done) },
				func(payload string) { heardBy <- name + ":" + payload })
			if err != nil {
				t.Errorf("Listen: %v", err)
			}
		})
	}
	listening.Wait()
	if err := a.Notify(ctx, "voicedock test", "hello"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 {
		select {
		case h := <-heardBy:
			got = append(got, h)
		case <-time.After(waitLimit):
			t.Fatalf("heard %v, want both nodes", got)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"a:hello", "b:hello"}) {
		t.Errorf("heard %v", got)
	}
	cancel()
	done.Wait()
}
