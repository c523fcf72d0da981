package speech

import (
	"context"
	"errors"
)

// rendered returns the audio cached under key, or makes it with render
// and caches it. Concurrent requests for the same key share one render:
// a transfer message said to many callers at once, or the same first
// message on a burst of calls, runs the engine (or the download) once.
func (s *Speaker) rendered(ctx context.Context, key string, render func(context.Context) ([]int16, error)) ([]int16, error) {
	if pcm, ok := s.cache.get(key); ok {
		return pcm, nil
	}
	// The shared render runs under the context of the request that
	// started it. If that request gives up, the others that are still
	// waiting try again rather than fail with its cancellation.
	for {
		ch := s.flight.DoChan(key, func() (any, error) {
			if pcm, ok := s.cache.get(key); ok { // finished while we queued
				return pcm, nil
			}
			pcm, err := render(ctx)
			if err != nil {
				return nil, err
			}
			s.cache.put(key, pcm)
			return pcm, nil
		})
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case r := <-ch:
			if r.Err != nil {
				if r.Shared && ctx.Err() == nil && errors.Is(r.Err, context.Canceled) {
					continue
				}
				return nil, r.Err
			}
			return r.Val.([]int16), nil
		}
	}
}
