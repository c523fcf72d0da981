package speech_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/voicedock/voicedock/audio"
	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/speech"
)

// gatedEngine counts its syntheses and holds each until release is
// closed or its context ends.
type gatedEngine struct {
	runs    atomic.Int32
	release chan struct{}
}

func (e *gatedEngine) Name() string { return "gated" }

func (e *gatedEngine) Synthesize(ctx context.Context, text, voice string, speed float64) (audio.PCM, error) {
	e.runs.Add(1)
	select {
	case <-e.release:
		return audio.PCM{Rate: 8000, Samples: make([]int16, 800)}, nil
	case <-ctx.Done():
		return audio.PCM{}, ctx.Err()
	}
}

// Many calls asking for the same text at once (a burst of calls with
// one first message) run the engine once and all get its audio.
func TestConcurrentRendersOfOneTextShareOneSynthesis(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := &gatedEngine{release: make(chan struct{})}
		s := speech.NewSpeaker(e, 0, nil)
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				pcm, err := s.Render(context.Background(), core.Utterance{Text: "Please hold."})
				if err == nil && len(pcm) != 800 {
					err = errors.New("wrong audio")
				}
				errs <- err
			})
		}
		synctest.Wait() // every request is waiting for the engine
		close(e.release)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if got := e.runs.Load(); got != 1 {
			t.Fatalf("the engine ran %d times for %d concurrent requests of one text", got, n)
		}
	})
}

// A request that gives up does not fail the others waiting for the same
// text: one of them synthesises it again.
func TestAbandonedRenderDoesNotFailTheOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := &gatedEngine{release: make(chan struct{})}
		s := speech.NewSpeaker(e, 0, nil)
		u := core.Utterance{Text: "Connecting you now."}
		first, cancel := context.WithCancel(context.Background())
		firstErr := make(chan error, 1)
		go func() {
			_, err := s.Render(first, u)
			firstErr <- err
		}()
		synctest.Wait()
		secondErr := make(chan error, 1)
		go func() {
			_, err := s.Render(context.Background(), u)
			secondErr <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-firstErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("the abandoned request: %v", err)
		}
		synctest.Wait()
		close(e.release)
		if err := <-secondErr; err != nil {
			t.Fatalf("the request still waiting: %v", err)
		}
		if got := e.runs.Load(); got != 2 {
			t.Fatalf("the engine ran %d times, want 2 (the abandoned run and the retry)", got)
		}
	})
}
