package deletion

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/meta"
)

// projectWithEvents creates a project in the metadata and seeds two events
// (with blobs) into its issue 1.
func (e *env) projectWithEvents(t *testing.T, org, slug string) *meta.Project {
	t.Helper()
	ctx := context.Background()
	o, ok := e.meta.Organization(org)
	if !ok {
		var err error
		if o, err = e.meta.CreateOrganization(ctx, org, org, 0); err != nil {
			t.Fatal(err)
		}
	}
	team, ok := e.meta.Team(o.ID, "t")
	if !ok {
		var err error
		if team, err = e.meta.CreateTeam(ctx, o, "t", "t"); err != nil {
			t.Fatal(err)
		}
	}
	p, _, err := e.meta.CreateProject(ctx, team, slug, slug, "go")
	if err != nil {
		t.Fatal(err)
	}
	e.seed(t, 2, [2]uint64{p.ID, 1})
	return p
}

// intact checks that a project's metadata, events and blobs are all there.
func (e *env) intact(t *testing.T, p *meta.Project) {
	t.Helper()
	if _, ok := e.meta.ProjectByID(p.ID); !ok {
		t.Errorf("project %d was deleted", p.ID)
	}
	if is := e.issue(t, p.ID, 1); is == nil || is.TimesSeen != 2 {
		t.Errorf("project %d's issue = %+v, want 2 events", p.ID, is)
	}
	n := 0
	for _, name := range e.blobNames(t) {
		if strings.HasPrefix(name, strconv.FormatUint(p.ID, 10)+"/") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("project %d has %d blobs, want 2", p.ID, n)
	}
}

// drain schedules an issue job after the others and waits for it: the
// runner takes due jobs oldest first, so once it is done every earlier
// due job was looked at.
func (e *env) drain(t *testing.T) {
	t.Helper()
	j, err := e.jobs.Schedule(context.Background(), Job{Kind: KindIssue, OrgID: 999, ProjectIDs: []uint64{999}, GroupID: 1}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if done := e.wait(t, j.ID); done.Status != StatusDone {
		t.Fatalf("sentinel job %+v", done)
	}
}

// TestCancelPendingJob cancels a project's deletion within its delay: once
// the delay is past and the runner has run, nothing was deleted, and the
// job says cancelled.
func TestCancelPendingJob(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := e.projectWithEvents(t, "acme", "api")
	steps := make(chan string, 16)
	e.run(t, Config{StepHook: func(step string, j Job) {
		if j.Kind == KindProject {
			steps <- step
		}
	}})
	job, err := e.jobs.Schedule(ctx, Job{Kind: KindProject, OrgID: p.OrgID, ProjectIDs: []uint64{p.ID}, CreatedBy: 7},
		time.Now().Add(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.jobs.Cancel(ctx, job.ID, 7)
	if err != nil || got.Status != StatusCancelled || got.CancelledBy != 7 || got.DateFinished.IsZero() {
		t.Fatalf("cancel = %+v, %v", got, err)
	}
	// Cancelling again is harmless.
	if again, err := e.jobs.Cancel(ctx, job.ID, 8); err != nil || again.CancelledBy != 7 {
		t.Fatalf("second cancel = %+v, %v", again, err)
	}
	time.Sleep(300 * time.Millisecond) // past the delay
	e.drain(t)
	if j, _ := e.jobs.Get(job.ID); j.Status != StatusCancelled || j.Attempts != 0 || !j.Finished() {
		t.Errorf("job after the delay: %+v", j)
	}
	if len(steps) != 0 {
		t.Errorf("the runner took the cancelled job (%d steps)", len(steps))
	}
	e.intact(t, p)
	if _, err := e.jobs.Cancel(ctx, "nosuchjob", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancel unknown job: %v", err)
	}
}

// TestCancelAfterClaim: a runner claimed the job, and the job is cancelled
// before the runner's check by revision; the runner stops without
// deleting anything, and the job stays cancelled.
func TestCancelAfterClaim(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := e.projectWithEvents(t, "acme", "api")
	var mu sync.Mutex
	var steps []string
	var cancelErr error
	e.run(t, Config{StepHook: func(step string, j Job) {
		if j.Kind != KindProject {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		steps = append(steps, step)
		if step == StepClaimed {
			if j.Status != StatusInProgress || j.Phase != PhaseClaimed {
				t.Errorf("claimed job %+v", j)
			}
			_, cancelErr = e.jobs.Cancel(ctx, j.ID, 1)
		}
	}})
	if _, err := e.meta.MarkProjectForDeletion(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	job, err := e.jobs.Schedule(ctx, Job{Kind: KindProject, OrgID: p.OrgID, ProjectIDs: []uint64{p.ID}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	done := e.wait(t, job.ID)
	e.drain(t)
	mu.Lock()
	defer mu.Unlock()
	if cancelErr != nil {
		t.Fatalf("cancel of a claimed job: %v", cancelErr)
	}
	if len(steps) != 1 || steps[0] != StepClaimed {
		t.Errorf("steps = %v, want only %s", steps, StepClaimed)
	}
	if j, _ := e.jobs.Get(job.ID); done.Status != StatusCancelled || j.Status != StatusCancelled || j.Owner != "" || j.Attempts != 1 {
		t.Errorf("job = %+v", j)
	}
	e.intact(t, p)
}

// TestCancelTooLate: once the runner checked the job and started deleting,
// a cancel answers ErrTooLate and the deletion completes.
func TestCancelTooLate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := e.projectWithEvents(t, "acme", "api")
	kept := e.projectWithEvents(t, "acme", "web")
	var mu sync.Mutex
	var cancelErr error
	var seen *Job
	e.run(t, Config{StepHook: func(step string, j Job) {
		if j.Kind == KindProject && step == StepMutating {
			mu.Lock()
			defer mu.Unlock()
			seen, cancelErr = e.jobs.Cancel(ctx, j.ID, 1)
		}
	}})
	if _, err := e.meta.MarkProjectForDeletion(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	job, err := e.jobs.Schedule(ctx, Job{Kind: KindProject, OrgID: p.OrgID, ProjectIDs: []uint64{p.ID}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	done := e.wait(t, job.ID)
	mu.Lock()
	defer mu.Unlock()
	if !errors.Is(cancelErr, ErrTooLate) || seen == nil || seen.Status != StatusInProgress || seen.Phase != PhaseMutating {
		t.Fatalf("cancel while mutating = %+v, %v; want ErrTooLate", seen, cancelErr)
	}
	if done.Status != StatusDone || done.Phase != PhaseMutating {
		t.Fatalf("job %+v", done)
	}
	if _, ok := e.meta.ProjectByID(p.ID); ok {
		t.Error("project not deleted")
	}
	if e.issue(t, p.ID, 1) != nil {
		t.Error("events not deleted")
	}
	if _, err := e.jobs.Cancel(ctx, job.ID, 1); !errors.Is(err, ErrTooLate) {
		t.Errorf("cancel a done job: %v", err)
	}
	e.intact(t, kept)
}

// TestJobOfARestoredProject: a project job recorded while the project's
// deletion was cancelled (the project is active again) deletes nothing and
// ends cancelled.
func TestJobOfARestoredProject(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := e.projectWithEvents(t, "acme", "api")
	e.run(t, Config{})
	job, err := e.jobs.Schedule(ctx, Job{Kind: KindProject, OrgID: p.OrgID, ProjectIDs: []uint64{p.ID}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	done := e.wait(t, job.ID)
	if done.Status != StatusCancelled || done.Error == "" || done.Attempts != 1 {
		t.Errorf("job = %+v", done)
	}
	e.intact(t, p)
}

// TestCancelJobsOfThePreviousVersion reads jobs as the previous version
// wrote them (no phase): a pending job that never ran can be cancelled;
// one in progress, or pending after a failed attempt, may have deleted
// data already and cannot.
func TestCancelJobsOfThePreviousVersion(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := map[string]string{
		"fresh":   `{"id":"fresh","kind":"project","orgId":1,"projectIds":[5],"status":"pending","attempts":0,"eventsDeleted":0,"createdBy":1,"dateCreated":"2025-01-01T00:00:00Z","notBefore":"2099-01-01T00:00:00Z"}`,
		"running": `{"id":"running","kind":"project","orgId":1,"projectIds":[6],"status":"in_progress","attempts":1,"eventsDeleted":0,"createdBy":1,"dateCreated":"2025-01-01T00:00:00Z","notBefore":"2025-01-01T00:00:00Z","dateStarted":"2025-01-01T00:00:01Z","owner":"abc","leaseUntil":"2099-01-01T00:00:00Z"}`,
		"retry":   `{"id":"retry","kind":"organization","orgId":1,"projectIds":[7],"status":"pending","error":"boom","attempts":1,"eventsDeleted":0,"createdBy":1,"dateCreated":"2025-01-01T00:00:00Z","notBefore":"2099-01-01T00:00:00Z","dateStarted":"2025-01-01T00:00:01Z"}`,
		"done":    `{"id":"done","kind":"issue","orgId":1,"projectIds":[8],"groupId":3,"status":"done","attempts":1,"eventsDeleted":0,"createdBy":1,"dateCreated":"2025-01-01T00:00:00Z","notBefore":"2025-01-01T00:00:00Z","dateFinished":"2025-01-01T00:00:02Z"}`,
	}
	for id, v := range old {
		if _, err := e.jobs.kv.Put(ctx, "job."+id, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	// The watch loads them.
	deadline := time.Now().Add(10 * time.Second)
	for len(e.jobs.List(1)) != len(old) {
		if time.Now().After(deadline) {
			t.Fatalf("jobs loaded: %d", len(e.jobs.List(1)))
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, tc := range []struct {
		id      string
		tooLate bool
	}{{"fresh", false}, {"running", true}, {"retry", true}, {"done", true}} {
		before, _ := e.jobs.Get(tc.id)
		got, err := e.jobs.Cancel(ctx, tc.id, 2)
		switch {
		case tc.tooLate && !errors.Is(err, ErrTooLate):
			t.Errorf("%s: cancel = %v, want ErrTooLate", tc.id, err)
		case !tc.tooLate && (err != nil || got.Status != StatusCancelled):
			t.Errorf("%s: cancel = %+v, %v", tc.id, got, err)
		}
		after, _ := e.jobs.load(ctx, tc.id)
		if tc.tooLate && (after.Status != before.Status || after.rev != before.rev) {
			t.Errorf("%s: a refused cancel changed the job: %+v", tc.id, after)
		}
		if !tc.tooLate && after.Status != StatusCancelled {
			t.Errorf("%s: stored status %q", tc.id, after.Status)
		}
	}
}
