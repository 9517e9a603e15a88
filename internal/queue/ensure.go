package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// EnsureTimeout bounds how long EnsureKeyValue keeps retrying at start (a
// NATS cluster may be electing a leader).
const EnsureTimeout = 30 * time.Second

// EnsureKeyValue creates a KV bucket, or updates an existing one to cfg,
// as every new bucket of Faultline is made: retried for EnsureTimeout,
// with the size and age limits of cfg, and never lowering the replicas an
// operator gave an existing bucket.
func EnsureKeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	var kv jetstream.KeyValue
	err := Retry(ctx, EnsureTimeout, func(ctx context.Context) error {
		c := cfg
		if old, err := js.KeyValue(ctx, cfg.Bucket); err == nil {
			if st, err := old.Status(ctx); err == nil {
				if s, ok := st.(*jetstream.KeyValueBucketStatus); ok {
					c.Replicas = max(c.Replicas, s.StreamInfo().Config.Replicas)
				}
			}
		}
		var err error
		kv, err = js.CreateOrUpdateKeyValue(ctx, c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// Retry calls f, each call bounded to 5 s, until it succeeds, ctx ends or
// timeout passes, waiting 100 ms doubling up to 2 s between calls.
func Retry(ctx context.Context, timeout time.Duration, f func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	wait := 100 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(actx)
		cancel()
		if err == nil || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}
