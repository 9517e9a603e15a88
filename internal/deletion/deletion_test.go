package deletion

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/store"
	"github.com/faultline/faultline/internal/testenv"
)

// env is a real embedded NATS (jobs, metadata, attachment blobs) and a
// real embedded ClickHouse.
type env struct {
	js    jetstream.JetStream
	jobs  *Jobs
	meta  *meta.Store
	store *store.Store
	blobs jetstream.ObjectStore
	log   *slog.Logger
}

func newEnv(t *testing.T) *env {
	t.Helper()
	lib := testenv.CHDBLib(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	q, err := queue.Open(ctx, queue.Config{DataDir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	e := &env{js: q.JetStream(), log: log}
	if e.meta, err = meta.Open(ctx, e.js, meta.Config{}, log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.meta.Close)
	if e.jobs, err = OpenJobs(ctx, e.js, 1, log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.jobs.Close)
	if e.store, err = store.Open(ctx, store.Config{Path: t.TempDir(), CHDBLib: lib}, log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	if err := e.store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if e.blobs, err = e.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: AttachmentsBucket}); err != nil {
		t.Fatal(err)
	}
	return e
}

// run starts a runner until the test ends.
func (e *env) run(t *testing.T, cfg Config) {
	t.Helper()
	if cfg.Poll == 0 {
		cfg.Poll = 20 * time.Millisecond
	}
	r, err := NewRunner(cfg, e.jobs, e.store, e.meta, &ObjectBlobs{JS: e.js}, e.log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (e *env) wait(t *testing.T, id string) *Job {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		j, ok := e.jobs.Get(id)
		if !ok {
			t.Fatalf("job %s vanished", id)
		}
		if j.Finished() {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s: %+v", j.Status, j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func eventID(pid, gid uint64, n int) string { return fmt.Sprintf("%08x%08x%016x", pid, gid, n) }

// seed writes n events per (project, issue) with a user and an attachment
// blob each.
func (e *env) seed(t *testing.T, n int, keys ...[2]uint64) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	var events []store.Event
	for _, k := range keys {
		for i := 0; i < n; i++ {
			user := []string{"ann", "bob"}[i%2]
			id := eventID(k[0], k[1], i)
			events = append(events, store.Event{ProjectID: k[0], GroupID: k[1], EventID: id, Timestamp: now, Received: now,
				UserID: user, UserEmail: user + "@example.com", UserKey: "id:" + user, Body: "{}"})
			if _, err := e.blobs.PutBytes(ctx, fmt.Sprintf("%d/%s/crash.dmp", k[0], id), []byte("blob")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.store.InsertEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
}

func (e *env) blobNames(t *testing.T) []string {
	t.Helper()
	list, err := e.blobs.List(context.Background())
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range list {
		out = append(out, o.Name)
	}
	slices.Sort(out)
	return out
}

func (e *env) issue(t *testing.T, pid, gid uint64) *store.Issue {
	t.Helper()
	is, err := e.store.GetIssue(context.Background(), pid, gid, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func TestIssueDeletionJob(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.seed(t, 2, [2]uint64{1, 10}, [2]uint64{1, 11})
	e.run(t, Config{})
	job, err := e.jobs.Schedule(ctx, Job{Kind: KindIssue, OrgID: 1, ProjectIDs: []uint64{1}, GroupID: 10}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if job.Status != StatusPending || job.ID == "" {
		t.Fatalf("scheduled job %+v", job)
	}
	done := e.wait(t, job.ID)
	if done.Status != StatusDone || done.Error != "" || done.DateFinished.IsZero() || done.Attempts != 1 {
		t.Fatalf("job %+v", done)
	}
	if is := e.issue(t, 1, 10); is != nil {
		t.Errorf("deleted issue still has data: %+v", is)
	}
	if is := e.issue(t, 1, 11); is == nil || is.TimesSeen != 2 {
		t.Errorf("other issue = %+v", is)
	}
	want := []string{"1/" + eventID(1, 11, 0) + "/crash.dmp", "1/" + eventID(1, 11, 1) + "/crash.dmp"}
	if got := e.blobNames(t); !slices.Equal(got, want) {
		t.Errorf("blobs = %v, want %v", got, want)
	}
	if list := e.jobs.List(1); len(list) != 1 || list[0].ID != job.ID {
		t.Errorf("org jobs = %+v", list)
	}
}

// TestOrganizationDeletionJob deletes an organization: its projects' data
// and blobs, then its projects, keys, teams and slugs, which can be taken
// again; another organization is untouched.
func TestOrganizationDeletionJob(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	org, err := e.meta.CreateOrganization(ctx, "Acme", "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	team, err := e.meta.CreateTeam(ctx, org, "t", "t")
	if err != nil {
		t.Fatal(err)
	}
	p1, key, err := e.meta.CreateProject(ctx, team, "api", "api", "go")
	if err != nil {
		t.Fatal(err)
	}
	p2, _, err := e.meta.CreateProject(ctx, team, "web", "web", "javascript")
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.meta.CreateOrganization(ctx, "Other", "other", 0)
	if err != nil {
		t.Fatal(err)
	}
	oteam, _ := e.meta.CreateTeam(ctx, other, "t", "t")
	p3, _, err := e.meta.CreateProject(ctx, oteam, "api", "api", "go")
	if err != nil {
		t.Fatal(err)
	}
	e.seed(t, 2, [2]uint64{p1.ID, 1}, [2]uint64{p2.ID, 2}, [2]uint64{p3.ID, 3})

	marked, err := e.meta.MarkOrganizationForDeletion(ctx, org.ID)
	if err != nil || marked.Status != meta.StatusPendingDeletion {
		t.Fatalf("mark = %+v, %v", marked, err)
	}
	if p, _ := e.meta.ProjectByID(p1.ID); p.Status != meta.StatusPendingDeletion {
		t.Fatalf("project status %q", p.Status)
	}
	e.run(t, Config{})
	job, err := e.jobs.Schedule(ctx, Job{Kind: KindOrganization, OrgID: org.ID, ProjectIDs: []uint64{p1.ID, p2.ID}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if done := e.wait(t, job.ID); done.Status != StatusDone {
		t.Fatalf("job %+v", done)
	}
	if _, ok := e.meta.Organization("acme"); ok {
		t.Error("organization still there")
	}
	for _, id := range []uint64{p1.ID, p2.ID} {
		if _, ok := e.meta.ProjectByID(id); ok {
			t.Errorf("project %d still there", id)
		}
	}
	if _, _, ok := e.meta.KeyByPublic(key.Public); ok {
		t.Error("DSN key still authenticates")
	}
	if len(e.meta.Teams(org.ID)) != 0 {
		t.Error("teams still there")
	}
	if e.issue(t, p1.ID, 1) != nil || e.issue(t, p2.ID, 2) != nil {
		t.Error("events of the deleted projects remain")
	}
	if is := e.issue(t, p3.ID, 3); is == nil || is.TimesSeen != 2 {
		t.Errorf("other organization's issue = %+v", is)
	}
	for _, name := range e.blobNames(t) {
		if !bytes.HasPrefix([]byte(name), []byte(fmt.Sprintf("%d/", p3.ID))) {
			t.Errorf("blob %s of a deleted project remains", name)
		}
	}
	if len(e.blobNames(t)) != 2 {
		t.Errorf("other organization's blobs: %v", e.blobNames(t))
	}
	// The slug is free again.
	if _, err := e.meta.CreateOrganization(ctx, "Acme", "acme", 0); err != nil {
		t.Errorf("recreate organization: %v", err)
	}
}

func TestUserDataJob(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.seed(t, 4, [2]uint64{1, 1}, [2]uint64{2, 2})
	e.run(t, Config{})
	job, err := e.jobs.Schedule(ctx, Job{Kind: KindUserData, OrgID: 1, ProjectIDs: []uint64{1},
		User: &store.UserFilter{Email: "ann@example.com"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	done := e.wait(t, job.ID)
	if done.Status != StatusDone || done.EventsDeleted != 2 {
		t.Fatalf("job %+v", done)
	}
	if done.User != nil {
		t.Errorf("the finished job keeps the user's identity: %+v", done.User)
	}
	if is := e.issue(t, 1, 1); is == nil || is.TimesSeen != 2 || is.Users != 1 {
		t.Errorf("issue after erasure = %+v", is)
	}
	if is := e.issue(t, 2, 2); is == nil || is.TimesSeen != 4 {
		t.Errorf("other project = %+v", is)
	}
	for _, n := range []int{0, 2} { // ann's events
		for _, name := range e.blobNames(t) {
			if name == "1/"+eventID(1, 1, n)+"/crash.dmp" {
				t.Errorf("blob %s of an erased event remains", name)
			}
		}
	}
	if got := len(e.blobNames(t)); got != 6 {
		t.Errorf("%d blobs left, want 6", got)
	}
}

// TestLapsedLeaseIsTakenOver: a job left in progress by a runner that died
// is finished by another once its lease lapses.
func TestLapsedLeaseIsTakenOver(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.seed(t, 1, [2]uint64{1, 1})
	job, err := e.jobs.Schedule(ctx, Job{Kind: KindIssue, OrgID: 1, ProjectIDs: []uint64{1}, GroupID: 1}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dead := *job
	dead.Status, dead.Owner, dead.LeaseUntil, dead.Attempts = StatusInProgress, "dead", time.Now().Add(300*time.Millisecond), 1
	if err := e.jobs.update(ctx, &dead); err != nil {
		t.Fatal(err)
	}
	// A stale copy cannot be written over it.
	if err := e.jobs.update(ctx, job); !errors.Is(err, errLost) {
		t.Fatalf("stale update: %v, want errLost", err)
	}
	e.run(t, Config{})
	done := e.wait(t, job.ID)
	if done.Status != StatusDone || done.Attempts != 2 {
		t.Fatalf("job %+v", done)
	}
	if e.issue(t, 1, 1) != nil {
		t.Error("issue not deleted")
	}
}

func TestScheduleValidates(t *testing.T) {
	e := newEnv(t)
	for _, j := range []Job{
		{Kind: "everything"},
		{Kind: KindIssue, ProjectIDs: []uint64{1}},
		{Kind: KindUserData, ProjectIDs: []uint64{1}, User: &store.UserFilter{}},
	} {
		if _, err := e.jobs.Schedule(context.Background(), j, time.Now()); err == nil {
			t.Errorf("accepted %+v", j)
		}
	}
}
