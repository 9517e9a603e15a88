package meta

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// MarkProjectForDeletion sets a project's status to StatusPendingDeletion.
// Its data is removed afterwards by a deletion job, which ends with
// DeleteProject.
func (s *Store) MarkProjectForDeletion(ctx context.Context, id uint64) (*Project, error) {
	p, ok := s.ProjectByID(id)
	if !ok {
		return nil, ErrNotFound
	}
	cp := *p
	cp.Status = StatusPendingDeletion
	if err := s.UpdateProject(ctx, &cp); err != nil {
		return nil, err
	}
	return &cp, nil
}

// MarkOrganizationForDeletion marks an organization and all its projects
// as pending deletion.
func (s *Store) MarkOrganizationForDeletion(ctx context.Context, id uint64) (*Organization, error) {
	o, ok := s.OrganizationByID(id)
	if !ok {
		return nil, ErrNotFound
	}
	for _, p := range s.Projects(id) {
		if _, err := s.MarkProjectForDeletion(ctx, p.ID); err != nil {
			return nil, err
		}
	}
	cp := *o
	cp.Status = StatusPendingDeletion
	if err := s.put(ctx, "orgs."+strconv.FormatUint(id, 10), &cp); err != nil {
		return nil, err
	}
	return &cp, nil
}

// RestoreProject makes a project pending deletion active again, once its
// deletion was cancelled. A project that is not pending is returned as is.
func (s *Store) RestoreProject(ctx context.Context, id uint64) (*Project, error) {
	p, ok := s.ProjectByID(id)
	if !ok {
		return nil, ErrNotFound
	}
	if p.Status != StatusPendingDeletion {
		return p, nil
	}
	cp := *p
	cp.Status = ProjectActive
	if err := s.UpdateProject(ctx, &cp); err != nil {
		return nil, err
	}
	return &cp, nil
}

// RestoreOrganization makes an organization pending deletion active again,
// with those of its projects listed (the ones that were pending only
// because of it), once its deletion was cancelled. The projects go first,
// so that an organization still pending tells that a restore is unfinished.
func (s *Store) RestoreOrganization(ctx context.Context, id uint64, projectIDs []uint64) (*Organization, error) {
	o, ok := s.OrganizationByID(id)
	if !ok {
		return nil, ErrNotFound
	}
	for _, pid := range projectIDs {
		if p, ok := s.ProjectByID(pid); !ok || p.OrgID != id {
			continue
		}
		if _, err := s.RestoreProject(ctx, pid); err != nil {
			return nil, err
		}
	}
	if o.Status != StatusPendingDeletion {
		return o, nil
	}
	cp := *o
	cp.Status = ""
	if err := s.put(ctx, "orgs."+strconv.FormatUint(id, 10), &cp); err != nil {
		return nil, err
	}
	return &cp, nil
}

// DeleteProject removes a project, its DSN keys and its slug, which may be
// taken again. Deleting a project that is gone is not an error.
func (s *Store) DeleteProject(ctx context.Context, id uint64) error {
	p, ok := s.ProjectByID(id)
	if !ok {
		return nil
	}
	for _, k := range s.Keys(id) {
		if err := s.del(ctx, "keys."+k.Public); err != nil {
			return err
		}
	}
	if err := s.deleteProjectAlerting(ctx, id); err != nil {
		return err
	}
	if err := s.del(ctx, "projects."+strconv.FormatUint(id, 10)); err != nil {
		return err
	}
	s.release(ctx, "idx.project."+strconv.FormatUint(p.OrgID, 10)+"."+p.Slug)
	return nil
}

// DeleteOrganization removes an organization, its teams and its slug. Its
// projects must have been deleted first.
func (s *Store) DeleteOrganization(ctx context.Context, id uint64) error {
	o, ok := s.OrganizationByID(id)
	if !ok {
		return nil
	}
	if ps := s.Projects(id); len(ps) > 0 {
		return fmt.Errorf("meta: organization %s still has %d projects", o.Slug, len(ps))
	}
	for _, t := range s.Teams(id) {
		if err := s.del(ctx, "teams."+strconv.FormatUint(t.ID, 10)); err != nil {
			return err
		}
		s.release(ctx, "idx.team."+strconv.FormatUint(id, 10)+"."+t.Slug)
	}
	for _, m := range s.Members(id) {
		if err := s.del(ctx, memberKey(id, m.ID)); err != nil {
			return err
		}
		s.release(ctx, memberIndex(id, m.UserID, m.Email))
	}
	if err := s.del(ctx, "orgs."+strconv.FormatUint(id, 10)); err != nil {
		return err
	}
	s.release(ctx, "idx.org."+o.Slug)
	return nil
}

// del deletes a key and applies the deletion locally.
func (s *Store) del(ctx context.Context, key string) error {
	if err := s.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("meta: delete %s: %w", key, err)
	}
	s.apply(key, nil, 0, true)
	return nil
}
