package retention

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/store"
	"github.com/faultline/faultline/internal/testenv"
)

// TestJobDropsExpiredPartitions runs the job on a real embedded store
// holding one expired week and one live event: the job drops the week on
// its own, and keeps the live event.
func TestJobDropsExpiredPartitions(t *testing.T) {
	lib := testenv.CHDBLib(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := store.Open(ctx, store.Config{Path: t.TempDir(), CHDBLib: lib}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	mk := func(n int, at time.Time) store.Event {
		return store.Event{ProjectID: 1, GroupID: 1, EventID: fmt.Sprintf("%032x", n), Timestamp: at, Received: at,
			RetentionDays: 3, Body: "{}"}
	}
	if err := s.InsertEvents(ctx, []store.Event{mk(1, now.AddDate(0, 0, -30)), mk(2, now)}); err != nil {
		t.Fatal(err)
	}
	expired, err := s.ExpiredPartitions(ctx, now)
	if err != nil || len(expired) == 0 {
		t.Fatalf("expired partitions = %v, %v", expired, err)
	}
	j, err := New(Config{Interval: 50 * time.Millisecond, FirstRun: time.Millisecond}, s, log)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); j.Run(rctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		left, err := s.ExpiredPartitions(ctx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions still there: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if e, err := s.GetEvent(ctx, 1, fmt.Sprintf("%032x", 2)); err != nil || e == nil {
		t.Fatalf("live event = %v, %v", e, err)
	}
}
