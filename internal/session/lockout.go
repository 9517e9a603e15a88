package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// failures is the stored record of one account's or one address's recent
// login failures: their times, at most the limit's worth.
type failures struct {
	Times []time.Time `json:"t"`
}

// AccountKey and ClientKey name the counters; the account is hashed, so
// that the bucket does not list e-mails (known or not).
func accountKey(email string) string { return hashKey("a.", email) }
func clientKey(addr string) string   { return hashKey("c.", addr) }

// Locked reports whether login attempts for this (normalized) e-mail or
// from this client address are locked out, and for how long.
func (s *Store) Locked(ctx context.Context, email, addr string) (time.Duration, error) {
	var wait time.Duration
	for _, c := range []struct {
		key   string
		limit int
	}{{accountKey(email), s.cfg.AccountLimit}, {clientKey(addr), s.cfg.ClientLimit}} {
		f, _, err := s.read(ctx, c.key)
		if err != nil {
			return 0, err
		}
		if d := s.lockedFor(f, c.limit); d > wait {
			wait = d
		}
	}
	return wait, nil
}

// lockedFor is how long the record locks attempts out: once it holds limit
// failures inside the window, until the limit-th newest leaves it.
func (s *Store) lockedFor(f failures, limit int) time.Duration {
	recent := s.recent(f)
	if len(recent) < limit {
		return 0
	}
	return recent[len(recent)-limit].Add(s.cfg.LockWindow).Sub(s.now())
}

func (s *Store) recent(f failures) []time.Time {
	cut := s.now().Add(-s.cfg.LockWindow)
	return slices.DeleteFunc(slices.Clone(f.Times), func(t time.Time) bool { return !t.After(cut) })
}

// Fail records a failed attempt for the e-mail and from the address.
func (s *Store) Fail(ctx context.Context, email, addr string) error {
	if err := s.add(ctx, accountKey(email), s.cfg.AccountLimit); err != nil {
		return err
	}
	return s.add(ctx, clientKey(addr), s.cfg.ClientLimit)
}

// Succeed clears the account's failures after a successful login.
func (s *Store) Succeed(ctx context.Context, email string) error {
	if err := s.failures.Delete(ctx, accountKey(email)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("session: clear failures: %w", err)
	}
	return nil
}

func (s *Store) read(ctx context.Context, key string) (failures, uint64, error) {
	var f failures
	e, err := s.failures.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return f, 0, nil
	}
	if err != nil {
		return f, 0, fmt.Errorf("session: read failures: %w", err)
	}
	if json.Unmarshal(e.Value(), &f) != nil {
		f = failures{}
	}
	return f, e.Revision(), nil
}

// add appends a failure by compare-and-set, keeping the newest limit.
func (s *Store) add(ctx context.Context, key string, limit int) error {
	for range 50 {
		f, rev, err := s.read(ctx, key)
		if err != nil {
			return err
		}
		f.Times = append(s.recent(f), s.now().UTC())
		if len(f.Times) > limit {
			f.Times = f.Times[len(f.Times)-limit:]
		}
		b, _ := json.Marshal(f)
		if rev == 0 {
			_, err = s.failures.Create(ctx, key, b)
		} else {
			_, err = s.failures.Update(ctx, key, b, rev)
		}
		if err == nil {
			return nil
		}
		if !isConflict(err) {
			return fmt.Errorf("session: record failure: %w", err)
		}
	}
	return errors.New("session: record failure: too much contention")
}

func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) ||
		errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}
