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
	kv   jetstream.KeyValue
	lim  *Limiter
	node string
	cfg  SyncConfig
	log  *slog.Logger
	stop context.CancelFunc
	done chan struct{}
}

// StartSync connects lim to the bucket and starts publishing and watching.
func StartSync(ctx context.Context, js jetstream.JetStream, lim *Limiter, cfg SyncConfig, log *slog.Logger) (*Sync, error) {
	if cfg.Bucket == "" {
		cfg.Bucket = "faultline-ratelimits"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 200 * time.Millisecond
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "Faultline rate-limit counters, one total per counter and ingest node",
		History:     1,
		TTL:         3 * time.Hour, // longer than the longest window
		Storage:     jetstream.MemoryStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("limits: bucket %s: %w", cfg.Bucket, err)
	}
	var b [6]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand does not fail on Linux
	s := &Sync{kv: kv, lim: lim, node: hex.EncodeToString(b[:]), cfg: cfg, log: log, done: make(chan struct{})}
	w, err := kv.WatchAll(context.Background())
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
