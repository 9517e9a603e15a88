package limits

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/queue"
)

// SyncConfig configures cross-node counting.
type SyncConfig struct {
	// Bucket is the KV bucket; default "faultline-ratelimits".
	Bucket string
	// Interval between publications of this node's counts; default 200ms.
	Interval time.Duration
	// Replicas on a NATS cluster; default 1.
	Replicas int
}

// Sync shares a Limiter's counts with the other ingest nodes through NATS
// KV: each node writes its own total per counter under
// "c.<counter>.<node>", and adds up the others' from a watch. Counts live
// in memory storage; after a full NATS restart they start again from zero,
// which can only admit more, never refuse wrongly.
type Sync struct {
	kv     jetstream.KeyValue
	lim    *Limiter
	spikes *Spikes // may be nil
	node   string
	cfg    SyncConfig
	log    *slog.Logger
	stop   context.CancelFunc
	done   chan struct{}
}

func (cfg *SyncConfig) defaults() {
	if cfg.Bucket == "" {
		cfg.Bucket = "faultline-ratelimits"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 200 * time.Millisecond
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
}

func openBucket(ctx context.Context, js jetstream.JetStream, cfg SyncConfig) (jetstream.KeyValue, error) {
	kv, err := queue.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "Faultline rate-limit counters (one total per counter and ingest node) and spike protection state",
		History:     1,
		TTL:         3 * time.Hour, // longer than the longest window
		Storage:     jetstream.MemoryStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("limits: bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// StartSync connects lim (and spikes, if not nil) to the bucket and starts
// publishing and watching.
func StartSync(ctx context.Context, js jetstream.JetStream, lim *Limiter, spikes *Spikes, cfg SyncConfig, log *slog.Logger) (*Sync, error) {
	cfg.defaults()
	kv, err := openBucket(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	var b [6]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand does not fail on Linux
	s := &Sync{kv: kv, lim: lim, spikes: spikes, node: hex.EncodeToString(b[:]), cfg: cfg, log: log, done: make(chan struct{})}
	w, err := kv.Watch(context.Background(), "c.>")
	if err != nil {
		return nil, fmt.Errorf("limits: watch: %w", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go s.run(rctx, w)
	return s, nil
}

// Node is this node's name in the bucket.
func (s *Sync) Node() string { return s.node }

// Close stops syncing after one last publication.
func (s *Sync) Close() {
	s.stop()
	<-s.done
}

func (s *Sync) run(ctx context.Context, w jetstream.KeyWatcher) {
	defer close(s.done)
	defer w.Stop() //nolint:errcheck
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	expire := time.NewTicker(10 * time.Second)
	defer expire.Stop()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil && e.Operation() == jetstream.KeyValuePut {
				s.receive(e.Key(), e.Value())
			}
		case <-tick.C:
			s.publish(ctx)
		case now := <-expire.C:
			s.lim.expire(now)
		case <-ctx.Done():
			s.publish(context.Background())
			return
		}
	}
}

func (s *Sync) publish(ctx context.Context) {
	if s.spikes != nil {
		for pid, since := range s.spikes.Changes() {
			key := "spike." + strconv.FormatUint(pid, 10)
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			var err error
			if since.IsZero() {
				err = s.kv.Delete(pctx, key)
			} else {
				_, err = s.kv.Put(pctx, key, []byte(since.UTC().Format(time.RFC3339)))
			}
			cancel()
			if err != nil {
				s.log.Warn("spike protection state not shared", "project_id", pid, "err", err)
			}
		}
	}
	for key, v := range s.lim.changed() {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := s.kv.Put(pctx, "c."+key+"."+s.node, []byte(strconv.FormatInt(v, 10)))
		cancel()
		if err != nil {
			s.log.Warn("rate-limit counter not shared", "err", err)
			return
		}
	}
}

func (s *Sync) receive(key string, val []byte) {
	rest, ok := strings.CutPrefix(key, "c.")
	if !ok {
		return
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return
	}
	counter, node := rest[:i], rest[i+1:]
	if node == s.node {
		return
	}
	v, err := strconv.ParseInt(string(val), 10, 64)
	if err != nil {
		return
	}
	s.lim.setRemote(counter, node, v)
}

// Status reads the spike protection state that ingest nodes publish, for
// the API.
type Status struct{ kv jetstream.KeyValue }

// OpenStatus opens the bucket for reading.
func OpenStatus(ctx context.Context, js jetstream.JetStream, cfg SyncConfig) (*Status, error) {
	cfg.defaults()
	kv, err := openBucket(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	return &Status{kv: kv}, nil
}

// Spike reports whether project pid is capped by spike protection, and
// since when. A cap lasts at most until the end of its window; the entry
// of a node that died expires with the bucket's TTL.
func (s *Status) Spike(ctx context.Context, pid uint64) (time.Time, bool) {
	e, err := s.kv.Get(ctx, "spike."+strconv.FormatUint(pid, 10))
	if err != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, string(e.Value()))
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}
