package meta

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// The default rule's forward migration. Projects created before alert
// rules landed have no rule; a new project gets DefaultRule. At start
// (and through `faultline migrate`) each project without a record of
// this migration gets the default rule if it has no rule at all, and the
// record, "migrations.defaultrule.{project}", is kept for good: a project
// whose rules its users deleted afterwards never gets it back. New
// projects write the record with their default rule.

func defaultRuleKey(projectID uint64) string {
	return "migrations.defaultrule." + strconv.FormatUint(projectID, 10)
}

// The record's values: a claim names the rule being created, "done:"
// once it is written (or "done:0" for a project that had rules).
const doneMark = "done:"

// MigrateDefaultRules gives the default rule to each project that has
// neither a rule nor the migration's record, and records it. It is
// idempotent and safe in several processes at once: a process claims a
// project's record (compare-and-set) with the id it reserved before
// writing the rule, and a claim left by a crash is finished by the next
// run. It returns how many projects got the rule.
func (s *Store) MigrateDefaultRules(ctx context.Context) (int, error) {
	s.mu.RLock()
	ids := make([]uint64, 0, len(s.projects))
	for id := range s.projects {
		ids = append(ids, id)
	}
	s.mu.RUnlock()
	slices.Sort(ids)
	n := 0
	for _, pid := range ids {
		gave, err := s.migrateDefaultRule(ctx, pid)
		if err != nil {
			return n, fmt.Errorf("meta: default rule of project %d: %w", pid, err)
		}
		if gave {
			n++
		}
	}
	if n > 0 {
		s.log.Info("meta: gave the default alert rule to projects created before alert rules", "projects", n)
	}
	return n, nil
}

func (s *Store) migrateDefaultRule(ctx context.Context, pid uint64) (bool, error) {
	key := defaultRuleKey(pid)
	e, err := s.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		if len(s.Rules(pid)) > 0 {
			if _, err := s.kv.Create(ctx, key, []byte(doneMark+"0")); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
				return false, err
			}
			return false, nil
		}
		id, err := s.NextID(ctx, "rule")
		if err != nil {
			return false, err
		}
		if _, err := s.kv.Create(ctx, key, []byte(strconv.FormatUint(id, 10))); errors.Is(err, jetstream.ErrKeyExists) {
			return false, nil // another process claimed it
		} else if err != nil {
			return false, err
		}
		return true, s.writeDefaultRule(ctx, pid, id)
	case err != nil:
		return false, err
	}
	v := string(e.Value())
	if strings.HasPrefix(v, doneMark) {
		return false, nil
	}
	// A claim that a crash left before its rule was recorded done, or one
	// that another process is completing right now: write the claimed rule
	// (the same id, so the same key: writing it twice is writing it once),
	// but count it as the claimant's, which counts it already.
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return false, fmt.Errorf("bad record %q", v)
	}
	if _, ok := s.Rule(pid, id); ok || len(s.Rules(pid)) > 0 {
		_, err := s.kv.Put(ctx, key, []byte(doneMark+v))
		return false, err
	}
	return false, s.writeDefaultRule(ctx, pid, id)
}

// writeDefaultRule writes the default rule with the reserved id, then
// marks the record done.
func (s *Store) writeDefaultRule(ctx context.Context, pid, id uint64) error {
	r := DefaultRule(pid)
	r.ID, r.DateCreated = id, now()
	if err := s.put(ctx, ruleKey(id), r); err != nil {
		return err
	}
	_, err := s.kv.Put(ctx, defaultRuleKey(pid), []byte(doneMark+strconv.FormatUint(id, 10)))
	return err
}
