package limits

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/queue"
)

func TestAdminFixedWindows(t *testing.T) {
	now := time.Unix(1_800_000_000, 0) // a window boundary for 60 s and 3600 s
	l := New()
	l.now = func() time.Time { return now }
	quotas := []Quota{
		{ID: "k.abc", Scope: ScopeKey, Categories: []string{CategoryError, CategoryDefault}, Window: time.Minute, Limit: 3, Reason: "key_quota"},
		{ID: "p.1.error.h", Scope: ScopeProject, Categories: []string{CategoryError}, Window: time.Hour, Limit: 5, Reason: "project_quota"},
	}
	for i := 0; i < 3; i++ {
		if got := l.Admit(quotas, CategoryError, 1); got != nil {
			t.Fatalf("event %d refused: %+v", i, got)
		}
	}
	now = now.Add(20 * time.Second)
	got := l.Admit(quotas, CategoryError, 1)
	if len(got) != 1 || got[0].Scope != ScopeKey || got[0].RetryAfter != 40*time.Second || got[0].Reason != "key_quota" {
		t.Fatalf("4th event: %+v", got)
	}
	if h := Header(got); h != "40:error;default:key:key_quota" {
		t.Errorf("header %q", h)
	}
	// Sessions are not covered by either quota.
	if got := l.Admit(quotas, CategorySession, 100); got != nil {
		t.Errorf("session refused: %+v", got)
	}
	// Next minute: the key allows 3 more, but the hourly project quota has 2 left.
	now = now.Add(time.Minute)
	for i := 0; i < 2; i++ {
		if got := l.Admit(quotas, CategoryError, 1); got != nil {
			t.Fatalf("minute 2, event %d refused: %+v", i, got)
		}
	}
	got = l.Admit(quotas, CategoryError, 1)
	if len(got) != 1 || got[0].Scope != ScopeProject {
		t.Fatalf("project quota: %+v", got)
	}
	if want := "3520"; RetryAfter(got) != want {
		t.Errorf("Retry-After %s, want %s", RetryAfter(got), want)
	}
	// A refused request counts nothing: the key's counter is still at 2.
	if n := l.Total(quotas[0], now); n != 2 {
		t.Errorf("key counter %d, want 2", n)
	}
	// A zero limit refuses everything.
	if got := l.Admit([]Quota{{ID: "z", Scope: ScopeProject, Window: time.Minute, Limit: 0, Reason: "disabled"}}, CategoryError, 1); got == nil {
		t.Error("zero limit admitted")
	}
}

// TestSyncAcrossNodes: two limiters (two ingest nodes) sharing one NATS
// server enforce one limit together.
func TestSyncAcrossNodes(t *testing.T) {
	ctx := context.Background()
	q, err := queue.Open(ctx, queue.Config{DataDir: t.TempDir()}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	a, b := New(), New()
	sa, err := StartSync(ctx, q.JetStream(), a, nil, SyncConfig{Interval: 20 * time.Millisecond}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	sb, err := StartSync(ctx, q.JetStream(), b, nil, SyncConfig{Interval: 20 * time.Millisecond}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	quota := []Quota{{ID: "k.shared", Scope: ScopeKey, Window: time.Hour, Limit: 100, Reason: "key_quota"}}
	admitted := 0
	for i := 0; i < 100; i++ {
		l := a
		if i%2 == 1 {
			l = b
		}
		if l.Admit(quota, CategoryError, 1) == nil {
			admitted++
		}
	}
	if admitted != 100 {
		t.Fatalf("admitted %d of the first 100", admitted)
	}
	// Let the counts travel, then both nodes refuse.
	deadline := time.Now().Add(5 * time.Second)
	for a.Total(quota[0], time.Now()) < 100 || b.Total(quota[0], time.Now()) < 100 {
		if time.Now().After(deadline) {
			t.Fatalf("counts did not converge: a=%d b=%d", a.Total(quota[0], time.Now()), b.Total(quota[0], time.Now()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if a.Admit(quota, CategoryError, 1) == nil || b.Admit(quota, CategoryError, 1) == nil {
		t.Fatal("a node admitted past the shared limit")
	}
}

func TestSpikeProtection(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := New()
	l.now = func() time.Time { return now }
	s := NewSpikes(l, time.Second)
	p := &meta.Project{ID: 7, SpikeProtection: &meta.SpikeProtection{Enabled: true, Multiplier: 3, Floor: 20}}
	// Six quiet windows of 10 events: the baseline settles at 10.
	for w := 0; w < 6; w++ {
		for i := 0; i < 10; i++ {
			if r := s.Admit(p, 1); r != nil {
				t.Fatalf("window %d, event %d refused: %+v", w, i, r)
			}
		}
		now = now.Add(time.Second)
	}
	// A spike: 30 (3 x 10) are admitted, the 31st is not.
	for i := 0; i < 30; i++ {
		if r := s.Admit(p, 1); r != nil {
			t.Fatalf("spike event %d refused early: %+v", i, r)
		}
	}
	r := s.Admit(p, 1)
	if r == nil || r.Reason != ReasonSpike || r.Scope != ScopeProject {
		t.Fatalf("31st event: %+v", r)
	}
	if _, on := s.Active(7); !on {
		t.Error("project not reported as capped")
	}
	if ch := s.Changes(); !ch[7].Equal(now) {
		t.Errorf("changes %v", ch)
	}
	// The next window is calm again.
	now = now.Add(time.Second)
	if r := s.Admit(p, 1); r != nil {
		t.Fatalf("after the spike: %+v", r)
	}
	if _, on := s.Active(7); on {
		t.Error("cap not lifted")
	}
	// Without protection nothing is refused, but the project is counted.
	q := &meta.Project{ID: 8}
	for i := 0; i < 1000; i++ {
		if r := s.Admit(q, 1); r != nil {
			t.Fatal("refused without spike protection")
		}
	}
}
