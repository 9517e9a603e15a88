package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// EnsureTimeout bounds how long the Ensure functions keep retrying at start:
// processes of several roles started at once on a fresh NATS cluster wait
// for its JetStream to elect a meta leader, then for each other's streams.
const EnsureTimeout = 60 * time.Second

// EnsureKeyValue creates a KV bucket, or updates an existing one to cfg,
// as every new bucket of Faultline is made: retried for EnsureTimeout,
// with the size and age limits of cfg, and never lowering the replicas an
// operator gave an existing bucket (Open refuses to start below them unless
// --nats-allow-lower-replicas lowered them first).
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
		return nil, waitedFor("bucket "+cfg.Bucket, err)
	}
	return kv, nil
}

// EnsureStream creates a stream, or updates an existing one to cfg, as
// EnsureKeyValue does buckets.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	var st jetstream.Stream
	err := Retry(ctx, EnsureTimeout, func(ctx context.Context) error {
		c := cfg
		if old, err := js.Stream(ctx, cfg.Name); err == nil {
			c.Replicas = max(c.Replicas, old.CachedInfo().Config.Replicas)
		} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return err
		}
		var err error
		st, err = js.CreateOrUpdateStream(ctx, c)
		return err
	})
	if err != nil {
		return nil, waitedFor("stream "+cfg.Name, err)
	}
	return st, nil
}

// EnsureObjectStore creates an object store, or updates an existing one to
// cfg, as EnsureKeyValue does KV buckets.
func EnsureObjectStore(ctx context.Context, js jetstream.JetStream, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	var os jetstream.ObjectStore
	err := Retry(ctx, EnsureTimeout, func(ctx context.Context) error {
		c := cfg
		if old, err := js.ObjectStore(ctx, cfg.Bucket); err == nil {
			if st, err := old.Status(ctx); err == nil {
				if s, ok := st.(*jetstream.ObjectBucketStatus); ok {
					c.Replicas = max(c.Replicas, s.StreamInfo().Config.Replicas)
				}
			}
		}
		var err error
		os, err = js.CreateOrUpdateObjectStore(ctx, c)
		return err
	})
	if err != nil {
		return nil, waitedFor("object store "+cfg.Bucket, err)
	}
	return os, nil
}

// EnsureConsumer creates a durable consumer on stream, or updates it to
// cfg, retried for EnsureTimeout as streams are: on a fresh NATS cluster a
// consumer created just after its stream may find no leader yet.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	var c jetstream.Consumer
	err := Retry(ctx, EnsureTimeout, func(ctx context.Context) error {
		var err error
		c, err = js.CreateOrUpdateConsumer(ctx, stream, cfg)
		return err
	})
	if err != nil {
		return nil, waitedFor("consumer "+cfg.Durable+" of stream "+stream, err)
	}
	return c, nil
}

// waitedFor names what a start waited for in vain.
func waitedFor(what string, err error) error {
	hint := ""
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		strings.Contains(err.Error(), "no responders") {
		hint = " (is JetStream enabled, and has the NATS cluster a quorum of its servers up?)"
	}
	return fmt.Errorf("%s: NATS JetStream did not create or update it within %s%s: %w", what, EnsureTimeout, hint, err)
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
		if err == nil || ctx.Err() != nil || time.Now().Add(wait).After(deadline) || permanent(err) {
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

// permanent reports a JetStream answer that no retry changes: a refused
// configuration.
func permanent(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case 10052, // invalid stream config
		10058, // stream name already in use with a different configuration
		10065: // subjects overlap
		return true
	}
	return false
}
