package deadletter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/queue"
)

// AttemptsBucket counts, per ingest stream sequence, the processing
// attempts of a redelivered message that started and never finished: the
// worker records the start before it processes the message and clears it
// when the attempt ends (stored, dead-lettered, or failed transiently). What
// remains is the number of times the message took its worker down.
const AttemptsBucket = "faultline-attempts"

// Attempts is the attempt counter.
type Attempts struct {
	kv jetstream.KeyValue
}

// OpenAttempts creates or opens the bucket (idempotent, retried, never
// lowering the replicas of an existing bucket). Entries expire after ttl
// (default a day): a message is redelivered long before.
func OpenAttempts(ctx context.Context, js jetstream.JetStream, replicas int, ttl time.Duration) (*Attempts, error) {
	if replicas <= 0 {
		replicas = 1
	}
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	kv, err := queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      AttemptsBucket,
		Description: "Faultline: unfinished processing attempts of redelivered messages",
		History:     1,
		TTL:         ttl,
		MaxBytes:    64 << 20,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("deadletter: %w", err)
	}
	return &Attempts{kv: kv}, nil
}

func seqKey(seq uint64) string { return strconv.FormatUint(seq, 10) }

// Begin records the start of an attempt at the message with this stream
// sequence and returns how many earlier attempts never finished.
func (a *Attempts) Begin(ctx context.Context, seq uint64) (int, error) {
	return a.add(ctx, seq, 1)
}

// End clears the record of one attempt. done means the message is
// finished with for good (stored or dead-lettered): its counter goes.
func (a *Attempts) End(ctx context.Context, seq uint64, done bool) error {
	if done {
		err := a.kv.Delete(ctx, seqKey(seq))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		return err
	}
	_, err := a.add(ctx, seq, -1)
	return err
}

// Unfinished returns the count of unfinished attempts of a message.
func (a *Attempts) Unfinished(ctx context.Context, seq uint64) (int, error) {
	e, err := a.kv.Get(ctx, seqKey(seq))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(e.Value()))
}

// add changes the counter by d with a compare-and-set and returns its
// value before.
func (a *Attempts) add(ctx context.Context, seq uint64, d int) (int, error) {
	key := seqKey(seq)
	for i := 0; i < 10; i++ {
		e, err := a.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			if d < 0 {
				return 0, nil
			}
			if _, err := a.kv.Create(ctx, key, []byte(strconv.Itoa(d))); err == nil {
				return 0, nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		n, _ := strconv.Atoi(string(e.Value()))
		if n+d <= 0 {
			if err := a.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err == nil {
				return n, nil
			}
			continue
		}
		if _, err := a.kv.Update(ctx, key, []byte(strconv.Itoa(n+d)), e.Revision()); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("deadletter: attempts of %d: too much contention", seq)
}
