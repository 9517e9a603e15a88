package meta_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/meta"
)

// TestGroupsMergeUnmergeDiscardForget: two Groups over one bucket (two
// processes); every change made through one is followed by the other,
// whose cache held the old answer, within a second.
func TestGroupsMergeUnmergeDiscardForget(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	api, err := meta.OpenGroups(ctx, q.JetStream(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	worker, err := meta.OpenGroups(ctx, q.JetStream(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer worker.Close()
	resolve := func(hash string) (meta.GroupRef, error) {
		ref, _, err := worker.Resolve(ctx, 7, "v1", hash)
		return ref, err
	}
	// eventually waits until the worker's answer for hash is want.
	eventually := func(hash string, want func(meta.GroupRef, error) bool) meta.GroupRef {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for {
			ref, err := resolve(hash)
			if want(ref, err) {
				return ref
			}
			if time.Now().After(deadline) {
				t.Fatalf("hash %s: the worker still answers %+v, %v after a second", hash, ref, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	a, _ := resolve("a")
	b, _ := resolve("b")
	c, _ := resolve("c")
	if a.ID == b.ID || b.ID == c.ID {
		t.Fatal("hashes share an issue")
	}
	// Merge b and c into a.
	if err := api.Merge(ctx, a.ID, []uint64{b.ID, c.ID}); err != nil {
		t.Fatal(err)
	}
	eventually("b", func(r meta.GroupRef, err error) bool { return err == nil && r.ID == a.ID })
	eventually("c", func(r meta.GroupRef, err error) bool { return err == nil && r.ID == a.ID })
	sv, _ := api.Get(ctx, a.ID)
	if got := len(sv.AllHashes()); got != 3 {
		t.Fatalf("survivor has %d hashes, want 3: %+v", got, sv)
	}
	if mb, _ := api.Get(ctx, b.ID); mb.MergedInto != a.ID {
		t.Fatalf("merged issue records %+v", mb)
	}
	// Unmerging every hash is refused; unmerging c makes a new issue.
	if _, err := api.Unmerge(ctx, a.ID, []string{"a", "b", "c"}); !errors.Is(err, meta.ErrLastHash) {
		t.Fatalf("unmerging all hashes: %v", err)
	}
	if _, err := api.Unmerge(ctx, a.ID, []string{"zz"}); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("unmerging an unknown hash: %v", err)
	}
	n, err := api.Unmerge(ctx, a.ID, []string{"c"})
	if err != nil {
		t.Fatal(err)
	}
	if n.ID == a.ID || n.ID == c.ID || n.ShortID <= c.ShortID {
		t.Fatalf("unmerged issue %+v: want a new id and short id", n)
	}
	eventually("c", func(r meta.GroupRef, err error) bool { return err == nil && r.ID == n.ID })
	if sv, _ := api.Get(ctx, a.ID); len(sv.AllHashes()) != 2 {
		t.Fatalf("survivor keeps %+v", sv.AllHashes())
	}
	// Discard: the worker's next resolve is refused.
	if err := api.Discard(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	eventually("c", func(_ meta.GroupRef, err error) bool { return errors.Is(err, meta.ErrDiscarded) })
	// A plain delete: the same hash comes back as a new issue.
	if err := api.Forget(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	na := eventually("a", func(r meta.GroupRef, err error) bool { return err == nil && r.ID != a.ID })
	nb := eventually("b", func(r meta.GroupRef, err error) bool { return err == nil && r.ID != a.ID })
	if na.ID == nb.ID || na.ShortID <= n.ShortID {
		t.Fatalf("after a delete: %+v and %+v", na, nb)
	}
	// Forget does not revive a discarded hash.
	if err := api.Forget(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := resolve("c"); !errors.Is(err, meta.ErrDiscarded) {
		t.Fatalf("discarded hash after forget: %v", err)
	}
}
