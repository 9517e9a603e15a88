package process

import (
	"slices"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/store"
)

// The plan is a pure function of the batch, the duplicate check's verdicts
// and the issue lookups: these cases need no store.
func TestPlanStore(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ev := func(id string, group uint64, seq uint64, version uint64, at time.Time) item {
		return item{
			row:      store.Event{ProjectID: 7, EventID: id, GroupID: group, Received: at, Body: "{}"},
			group:    store.Group{ProjectID: 7, GroupID: group, Version: version, LastSeen: at, Title: id},
			orgID:    1,
			keyID:    "k",
			category: outcome.CategoryError,
			seq:      seq,
		}
	}
	id := func(n byte) string { return string(slices.Repeat([]byte{'a' + n}, 32)) }
	type want struct {
		events    []string // event ids stored
		groups    map[uint64]string
		outcomes  map[string]int // "kind/reason" -> count
		counted   int
		dropped   int
		newIssues []string
		again     []bool // of newIssues
		frequency int
		created   []uint64
	}
	cases := []struct {
		name     string
		items    []item
		verdicts []verdict
		res      []resolution
		alerting bool
		counted  []store.EventKey // counted by an earlier attempt
		maybe    bool             // an earlier attempt failed
		want     want
	}{
		{
			name:     "new issue and an event of it",
			items:    []item{ev(id(0), 0, 1, 1, t0), ev(id(1), 0, 2, 2, t0.Add(time.Second))},
			verdicts: []verdict{toStore, toStore},
			res: []resolution{
				{ref: meta.GroupRef{ID: 5, FirstEvent: id(0)}, looked: true, isNew: true},
				{ref: meta.GroupRef{ID: 5, FirstEvent: id(0)}, looked: true},
			},
			alerting: true,
			want: want{events: []string{id(0), id(1)}, groups: map[uint64]string{5: id(1)},
				outcomes: map[string]int{"accepted/": 2}, counted: 2, newIssues: []string{id(0)}, again: []bool{false},
				frequency: 2, created: []uint64{5}},
		},
		{
			name:     "older metadata keeps the newest last seen",
			items:    []item{ev(id(0), 3, 1, 9, t0), ev(id(1), 3, 2, 2, t0.Add(time.Hour))},
			verdicts: []verdict{toStore, toStore},
			res:      []resolution{{}, {}},
			want: want{events: []string{id(0), id(1)}, groups: map[uint64]string{3: id(0)},
				outcomes: map[string]int{"accepted/": 2}, counted: 2},
		},
		{
			name:     "duplicate and discarded are dropped and counted as filtered",
			items:    []item{ev(id(0), 0, 1, 1, t0), ev(id(1), 0, 2, 1, t0), ev(id(2), 0, 3, 1, t0)},
			verdicts: []verdict{duplicate, toStore, toStore},
			res:      []resolution{{}, {looked: true, discarded: true}, {ref: meta.GroupRef{ID: 8}, looked: true}},
			want: want{events: []string{id(2)}, groups: map[uint64]string{8: id(2)},
				outcomes: map[string]int{"filtered/duplicate": 1, "filtered/discarded-hash": 1, "accepted/": 1},
				counted:  2, dropped: 2},
		},
		{
			name:     "a retry counts nothing twice",
			items:    []item{ev(id(0), 4, 1, 1, t0)},
			verdicts: []verdict{toStore},
			res:      []resolution{{}},
			counted:  []store.EventKey{{ProjectID: 7, EventID: id(0)}},
			maybe:    true,
			alerting: true,
			want:     want{events: []string{id(0)}, groups: map[uint64]string{4: id(0)}, outcomes: map[string]int{}, frequency: 1},
		},
		{
			name:     "stored before a crash: alerts again, stores nothing",
			items:    []item{ev(id(0), 0, 1, 1, t0)},
			verdicts: []verdict{alreadyStored},
			res:      []resolution{{ref: meta.GroupRef{ID: 6, FirstEvent: id(0)}, looked: true}},
			alerting: true,
			want:     want{groups: map[uint64]string{}, outcomes: map[string]int{}, newIssues: []string{id(0)}, again: []bool{true}, frequency: 1},
		},
		{
			name:     "a redelivered allocation is new again, flagged again",
			items:    []item{func() item { it := ev(id(0), 0, 1, 1, t0); it.redelivered = true; return it }()},
			verdicts: []verdict{toStore},
			res:      []resolution{{ref: meta.GroupRef{ID: 9, FirstEvent: id(0)}, looked: true}},
			alerting: true,
			want: want{events: []string{id(0)}, groups: map[uint64]string{9: id(0)}, outcomes: map[string]int{"accepted/": 1},
				counted: 1, newIssues: []string{id(0)}, again: []bool{true}, frequency: 1},
		},
		{
			name:     "a deploy",
			items:    []item{{deploy: &store.Deploy{ProjectID: 7}}},
			verdicts: []verdict{toStore},
			res:      []resolution{{}},
			want:     want{groups: map[uint64]string{}, outcomes: map[string]int{}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &batch{items: tc.items}
			if tc.maybe {
				b.maybeStored = []store.EventKey{{ProjectID: 7, EventID: id(0)}}
			}
			for _, k := range tc.counted {
				if b.counted == nil {
					b.counted = map[store.EventKey]bool{}
				}
				b.counted[k] = true
			}
			// Resolutions apply their issue to the item, as resolveIssues does.
			for i, r := range tc.res {
				if r.looked && !r.discarded && tc.verdicts[i] == toStore {
					b.items[i].row.GroupID, b.items[i].group.GroupID = r.ref.ID, r.ref.ID
				}
			}
			p := planStore(b, tc.verdicts, tc.res, tc.alerting)
			var got []string
			for _, e := range p.events {
				got = append(got, e.EventID)
			}
			if !slices.Equal(got, tc.want.events) {
				t.Errorf("events %v, want %v", got, tc.want.events)
			}
			groups := map[uint64]string{}
			for _, g := range p.groups {
				groups[g.GroupID] = g.Title
				if g.LastSeen.IsZero() {
					t.Errorf("group %d has no last seen", g.GroupID)
				}
			}
			if len(groups) != len(tc.want.groups) {
				t.Errorf("groups %v, want %v", groups, tc.want.groups)
			}
			for gid, title := range tc.want.groups {
				if groups[gid] != title {
					t.Errorf("group %d has the metadata of %q, want %q", gid, groups[gid], title)
				}
			}
			outs := map[string]int{}
			for _, o := range p.outcomes {
				outs[o.Kind.String()+"/"+o.Reason] += int(o.Quantity)
			}
			if len(outs) != len(tc.want.outcomes) {
				t.Errorf("outcomes %v, want %v", outs, tc.want.outcomes)
			}
			for k, n := range tc.want.outcomes {
				if outs[k] != n {
					t.Errorf("outcome %s: %d, want %d (all: %v)", k, outs[k], n, outs)
				}
			}
			if len(p.counted) != tc.want.counted || len(p.dropped) != tc.want.dropped {
				t.Errorf("counted %d dropped %d, want %d and %d", len(p.counted), len(p.dropped), tc.want.counted, tc.want.dropped)
			}
			var ni []string
			var again []bool
			for _, e := range p.newIssues {
				ni = append(ni, e.row.EventID)
				again = append(again, e.again)
				if e.row.GroupID == 0 {
					t.Errorf("new issue candidate %s has no issue", e.row.EventID)
				}
			}
			if !slices.Equal(ni, tc.want.newIssues) || !slices.Equal(again, tc.want.again) {
				t.Errorf("new issues %v again %v, want %v %v", ni, again, tc.want.newIssues, tc.want.again)
			}
			if len(p.frequency) != tc.want.frequency {
				t.Errorf("frequency entries %d, want %d", len(p.frequency), tc.want.frequency)
			}
			var created []uint64
			for gid := range p.created {
				created = append(created, gid)
			}
			if !slices.Equal(created, tc.want.created) {
				t.Errorf("created %v, want %v", created, tc.want.created)
			}
			for _, e := range p.events {
				if p.groupOf[store.EventKey{ProjectID: e.ProjectID, EventID: e.EventID}] != e.GroupID {
					t.Errorf("groupOf misses %s", e.EventID)
				}
			}
		})
	}
}

func TestBatchSizer(t *testing.T) {
	const mib = 1 << 20
	steps := []struct {
		asked, got int
		bytes      int64
		next       int
	}{
		{1000, 1000, 14 * mib, 2000},  // full: the queue is deep, double
		{2000, 2000, 28 * mib, 3428},  // full again: 4000 would pass 48 MiB at 14 KiB each
		{3428, 3428, 47 * mib, 3501},  // full, still within the budget
		{3501, 100, 1 * mib, 1000},    // short: back to the base
		{1000, 1000, 1000 * mib, 48},  // 1 MiB events: the budget decides
		{48, 48, 48 * mib, 48},        // full but at the budget
		{48, 0, 0, 1000},              // empty fetch: back to the base
		{1000, 1000, 1 * mib, 2000},   // tiny events
		{2000, 2000, 2 * mib, 4000},   //
		{4000, 4000, 4 * mib, 8000},   //
		{8000, 8000, 8 * mib, 8000},   // MaxBatchSize at most
		{8000, 8000, 200 * mib, 1920}, // big again: the budget shrinks it at once
		{1920, 1920, 2000 * mib, 46},  //
		{48, 48, 4800 * mib, 1},       // 100 MiB each: one at a time
	}
	s := newBatchSizer(1000, 8000, 48*mib)
	if s.next() != 1000 {
		t.Fatalf("first fetch %d, want the base", s.next())
	}
	for i, st := range steps {
		s.observe(st.asked, st.got, st.bytes)
		if s.next() != st.next {
			t.Errorf("step %d (%+v): next %d, want %d", i, st, s.next(), st.next)
		}
	}
}

func TestConfigMaxBatchBytes(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want int64
		ok   bool
	}{{0, DefaultMaxBatchBytes, true}, {1 << 20, 1 << 20, true}, {1000, 0, false}, {-1, 0, false}} {
		c := Config{MaxBatchBytes: tc.in}
		err := c.Validate()
		if (err == nil) != tc.ok || (tc.ok && c.MaxBatchBytes != tc.want) {
			t.Errorf("%d: %d, %v", tc.in, c.MaxBatchBytes, err)
		}
	}
}

func TestBatchSizerNoGrowth(t *testing.T) {
	s := newBatchSizer(10, 0, 48<<20)
	for range 3 {
		s.observe(10, 10, 10<<10)
		if s.next() != 10 {
			t.Fatalf("grew to %d without a MaxBatchSize", s.next())
		}
	}
}
