package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// schema0007 adds deploys: a release put out to an environment, as
// Sentry's Deploy records it. Airbrake notifiers report them
// (POST /api/v4/projects/{id}/deploys). A redelivered deploy message is
// inserted again with the same deploy_id; ReplacingMergeTree collapses the
// copies and readers take one row per deploy_id.
func schema0007(s *Store) []string {
	return []string{strings.ReplaceAll(`CREATE TABLE IF NOT EXISTS {db}.deploys (
	project_id UInt64,
	version String,
	deploy_id FixedString(32),
	environment String,
	revision String,
	repository String,
	username String,
	email String,
	date_finished DateTime('UTC')
) ENGINE = ReplacingMergeTree()
ORDER BY (project_id, version, deploy_id)`, "{db}", ident(s.db))}
}

// Deploy is one deploy of a release.
type Deploy struct {
	ProjectID    uint64    `ch:"project_id"`
	Version      string    `ch:"version"`   // the release
	DeployID     string    `ch:"deploy_id"` // 32 lowercase hex
	Environment  string    `ch:"environment"`
	Revision     string    `ch:"revision"`
	Repository   string    `ch:"repository"`
	Username     string    `ch:"username"`
	Email        string    `ch:"email"`
	DateFinished time.Time `ch:"date_finished"`
	// Sentry's name, url and start (migration 9; empty for Airbrake's).
	Name        string    `ch:"name"`
	URL         string    `ch:"url"`
	DateStarted time.Time `ch:"date_started"` // the Unix epoch: unknown
}

var deployCols = []string{"project_id", "version", "deploy_id", "environment", "revision", "repository", "username", "email", "date_finished",
	"name", "url", "date_started"}

// InsertDeploys records deploys. Inserting one again is harmless.
func (s *Store) InsertDeploys(ctx context.Context, deploys []Deploy) error {
	if len(deploys) == 0 {
		return nil
	}
	rows := make([][]any, len(deploys))
	for i, d := range deploys {
		if len(d.DeployID) != 32 {
			return fmt.Errorf("store: deploy id %q is not 32 hex characters", d.DeployID)
		}
		rows[i] = []any{d.ProjectID, d.Version, d.DeployID, d.Environment, d.Revision, d.Repository,
			d.Username, d.Email, d.DateFinished.UTC().Truncate(time.Second), d.Name, d.URL, deployTime(d.DateStarted)}
	}
	return s.t.insert(ctx, s.table("deploys"), deployCols, rows)
}

// maxDeploys bounds one listing.
const maxDeploys = 1000

// ListDeploys returns the deploys of a release in the given projects,
// newest first.
func (s *Store) ListDeploys(ctx context.Context, projectIDs []uint64, version string) ([]Deploy, error) {
	var rows []Deploy
	err := s.t.query(ctx, &rows, "SELECT "+strings.Join(deployCols, ", ")+" FROM "+s.table("deploys")+
		" WHERE project_id IN "+nums(projectIDs)+" AND version = "+str(version)+
		" ORDER BY date_finished DESC, deploy_id DESC LIMIT 1 BY project_id, deploy_id LIMIT "+fmt.Sprint(maxDeploys))
	unknownStarts(rows)
	return rows, err
}

// unknownStarts turns the stored epoch (no start time) into the zero time.
func unknownStarts(rows []Deploy) {
	for i := range rows {
		if rows[i].DateStarted.Unix() <= 0 {
			rows[i].DateStarted = time.Time{}
		}
	}
}

// deployTime is a deploy's optional time as stored: the epoch for none.
func deployTime(t time.Time) time.Time {
	if t.IsZero() || t.Unix() < 0 {
		return time.Unix(0, 0).UTC()
	}
	return t.UTC().Truncate(time.Second)
}

// ReleasesDeploys returns the deploys of the given releases in the given
// projects, one row per (project, deploy), newest first; at most 1,000
// per call.
func (s *Store) ReleasesDeploys(ctx context.Context, projectIDs []uint64, versions []string) (map[string][]Deploy, error) {
	out := map[string][]Deploy{}
	if len(versions) == 0 {
		return out, nil
	}
	var rows []Deploy
	if err := s.t.query(ctx, &rows, "SELECT "+strings.Join(deployCols, ", ")+" FROM "+s.table("deploys")+
		" WHERE project_id IN "+nums(projectIDs)+" AND version IN "+strs(versions)+
		" ORDER BY date_finished DESC, deploy_id DESC LIMIT 1 BY project_id, version, deploy_id LIMIT "+fmt.Sprint(maxDeploys)); err != nil {
		return nil, err
	}
	unknownStarts(rows)
	for _, d := range rows {
		out[d.Version] = append(out[d.Version], d)
	}
	return out, nil
}
