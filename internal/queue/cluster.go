package queue

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// authOptions are the NATS client options for credentials and TLS.
func (c *Config) authOptions() ([]nats.Option, error) {
	var opts []nats.Option
	if c.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("queue: --nats-nkey: %w", err)
		}
		opts = append(opts, o)
	}
	if c.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(c.TLSCAFile))
	}
	if c.TLSCertFile != "" {
		opts = append(opts, nats.ClientCert(c.TLSCertFile, c.TLSKeyFile))
	}
	return opts, nil
}

// isFaultlines reports whether a stream is one of Faultline's: its own
// streams, and the streams behind its KV buckets and object stores.
func isFaultlines(stream string) bool {
	return strings.HasPrefix(stream, "FAULTLINE_") || strings.HasPrefix(stream, "KV_faultline-") ||
		strings.HasPrefix(stream, "OBJ_faultline-")
}

// checkReplicas refuses to start with fewer replicas than Faultline's
// existing streams and buckets have: a process started with a smaller
// --nats-replicas would otherwise turn them from 3 replicas to 1. With
// AllowLowerReplicas, it lowers them instead.
func checkReplicas(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger) error {
	type higher struct {
		name     string
		replicas int
	}
	var found []higher
	err := Retry(ctx, EnsureTimeout, func(ctx context.Context) error {
		found = found[:0]
		l := js.ListStreams(ctx)
		for info := range l.Info() {
			if isFaultlines(info.Config.Name) && info.Config.Replicas > cfg.Replicas {
				found = append(found, higher{info.Config.Name, info.Config.Replicas})
			}
		}
		return l.Err()
	})
	if err != nil {
		return fmt.Errorf("queue: %w", waitedFor("the list of streams", err))
	}
	if len(found) == 0 {
		return nil
	}
	slices.SortFunc(found, func(a, b higher) int { return strings.Compare(a.name, b.name) })
	if !cfg.AllowLowerReplicas {
		names := make([]string, len(found))
		for i, f := range found {
			names[i] = fmt.Sprintf("%s (%d)", f.name, f.replicas)
		}
		return fmt.Errorf("queue: --nats-replicas is %d but these streams and buckets have more replicas: %s; "+
			"start with --nats-replicas %d, or give --nats-allow-lower-replicas to lower them",
			cfg.Replicas, strings.Join(names, ", "), found[0].replicas)
	}
	for _, f := range found {
		err := Retry(ctx, EnsureTimeout, func(ctx context.Context) error {
			st, err := js.Stream(ctx, f.name)
			if err != nil {
				return err
			}
			c := st.CachedInfo().Config
			c.Replicas = cfg.Replicas
			_, err = js.UpdateStream(ctx, c)
			return err
		})
		if err != nil {
			return fmt.Errorf("queue: lowering the replicas of %s: %w", f.name, err)
		}
		log.Warn("lowered the replicas of a stream (--nats-allow-lower-replicas)", "stream", f.name,
			"from", f.replicas, "to", cfg.Replicas)
	}
	return nil
}
