package meta_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/queue"
	"github.com/nats-io/nats.go/jetstream"
)

func openQueue(t *testing.T) *queue.Queue {
	t.Helper()
	q, err := queue.Open(context.Background(), queue.Config{DataDir: t.TempDir()}, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	return q
}

func openMeta(t *testing.T, q *queue.Queue) *meta.Store {
	t.Helper()
	m, err := meta.Open(context.Background(), q.JetStream(), meta.Config{}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func TestObjectsAndSlugs(t *testing.T) {
	ctx := context.Background()
	m := openMeta(t, openQueue(t))
	org, err := m.CreateOrganization(ctx, "Acme Corp", "", 7)
	if err != nil {
		t.Fatal(err)
	}
	if org.Slug != "acme-corp" || !org.HasMember(7) || org.HasMember(8) {
		t.Fatalf("org = %+v", org)
	}
	if _, err := m.CreateOrganization(ctx, "Other", "acme-corp", 0); !errors.Is(err, meta.ErrExists) {
		t.Fatalf("duplicate slug: %v", err)
	}
	for _, bad := range []string{"Has Caps", "../x", "a.b", "", "-lead"} {
		if _, err := m.CreateOrganization(ctx, "x", bad, 0); bad != "" && !errors.Is(err, meta.ErrInvalid) {
			t.Errorf("slug %q: %v", bad, err)
		}
	}
	team, err := m.CreateTeam(ctx, org, "Backend", "backend")
	if err != nil {
		t.Fatal(err)
	}
	p, key, err := m.CreateProject(ctx, team, "API", "api", "go")
	if err != nil {
		t.Fatal(err)
	}
	if p.RetentionDays != meta.DefaultRetentionDays || p.Status != meta.ProjectActive || len(p.AllowedOrigins) != 1 {
		t.Errorf("project defaults: %+v", p)
	}
	if len(key.Public) != 32 || len(key.Secret) != 32 || !key.Active || key.ProjectID != p.ID {
		t.Errorf("key = %+v", key)
	}
	k, kp, ok := m.KeyByPublic(key.Public)
	if !ok || k.Public != key.Public || kp.ID != p.ID {
		t.Fatal("KeyByPublic failed")
	}
	if _, _, ok := m.KeyByPublic("nope"); ok {
		t.Fatal("unknown key found")
	}
	// The same slug in another organization is fine.
	org2, _ := m.CreateOrganization(ctx, "Beta", "beta", 0)
	team2, _ := m.CreateTeam(ctx, org2, "Backend", "backend")
	if _, _, err := m.CreateProject(ctx, team2, "API", "api", "go"); err != nil {
		t.Fatalf("same project slug in another org: %v", err)
	}
	if _, _, err := m.CreateProject(ctx, team, "API", "api", "go"); !errors.Is(err, meta.ErrExists) {
		t.Fatalf("duplicate project slug: %v", err)
	}
	if got := m.Projects(org.ID); len(got) != 1 {
		t.Errorf("org projects = %d", len(got))
	}
}

func TestAdminToken(t *testing.T) {
	ctx := context.Background()
	m := openMeta(t, openQueue(t))
	const tok = "0123456789abcdef0123456789abcdef"
	u, err := m.EnsureAdminToken(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.EnsureAdminToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	got, _, ok := m.Authenticate(tok)
	if !ok || got.ID != u.ID || !got.Superuser {
		t.Fatalf("Authenticate = %+v %v", got, ok)
	}
	if _, _, ok := m.Authenticate(tok + "x"); ok {
		t.Fatal("wrong token accepted")
	}
}

// TestAdminTokenRotation: a restart with another FAULTLINE_ADMIN_TOKEN
// value deletes the token of the previous value and keeps the admin user;
// a restart with the same value writes nothing. The "old" rows are written
// as the previous version wrote them (no bootstrap marker), including two
// tokens left by earlier rotations, which the old version never deleted.
func TestAdminTokenRotation(t *testing.T) {
	const (
		a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		c = "cccccccccccccccccccccccccccccccccccc"
	)
	tests := []struct {
		name   string
		legacy []string // values whose tokens the previous version stored
		start  []string // values of successive starts
		valid  string
		gone   []string
	}{
		{name: "new install rotated", start: []string{a, b}, valid: b, gone: []string{a}},
		{name: "rotated back", start: []string{a, b, a}, valid: a, gone: []string{b}},
		{name: "same value", start: []string{a, a}, valid: a},
		{name: "legacy rotated", legacy: []string{a, c}, start: []string{b}, valid: b, gone: []string{a, c}},
		{name: "legacy same value", legacy: []string{a}, start: []string{a, a}, valid: a},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			q := openQueue(t)
			kv, err := q.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "faultline-meta", History: 1})
			if err != nil {
				t.Fatal(err)
			}
			var adminID uint64
			if len(tc.legacy) > 0 {
				adminID = 1
				kv.Put(ctx, "seq.user", []byte("1"))                                                                                                      //nolint:errcheck
				kv.Put(ctx, "users.1", []byte(`{"id":1,"email":"admin@localhost","name":"admin","superuser":true,"dateCreated":"2026-01-01T00:00:00Z"}`)) //nolint:errcheck
				for _, v := range tc.legacy {
					h := meta.HashToken(v)
					kv.Put(ctx, "tokens."+h, []byte(`{"hash":"`+h+`","userId":1,"name":"FAULTLINE_ADMIN_TOKEN","scopes":["*"],"dateCreated":"2026-01-01T00:00:00Z"}`)) //nolint:errcheck
				}
			}
			var revs []uint64
			for _, v := range tc.start {
				m, err := meta.Open(ctx, q.JetStream(), meta.Config{}, slog.Default())
				if err != nil {
					t.Fatal(err)
				}
				u, err := m.EnsureAdminToken(ctx, v)
				m.Close()
				if err != nil {
					t.Fatal(err)
				}
				if adminID == 0 {
					adminID = u.ID
				}
				if u.ID != adminID {
					t.Fatalf("admin user id %d, want %d", u.ID, adminID)
				}
				revs = append(revs, lastSeq(t, q))
			}
			m := openMeta(t, q)
			if u, tok, ok := m.Authenticate(tc.valid); !ok || u.ID != adminID || !u.Superuser || !tok.Bootstrap {
				t.Errorf("new value: %+v %+v %v", u, tok, ok)
			}
			for _, v := range tc.gone {
				if _, _, ok := m.Authenticate(v); ok {
					t.Errorf("old value %.4s… still accepted", v)
				}
				if _, err := kv.Get(ctx, "tokens."+meta.HashToken(v)); !errors.Is(err, jetstream.ErrKeyNotFound) {
					t.Errorf("old token's hash still stored: %v", err)
				}
			}
			if n := len(tc.start); n >= 2 && tc.start[n-1] == tc.start[n-2] && revs[n-1] != revs[n-2] {
				t.Errorf("a restart with the same value wrote to the bucket (last sequence %d → %d)", revs[n-2], revs[n-1])
			}
		})
	}
}

// lastSeq is the metadata bucket's last written sequence.
func lastSeq(t *testing.T, q *queue.Queue) uint64 {
	t.Helper()
	st, err := q.JetStream().Stream(context.Background(), "KV_faultline-meta")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// TestWatchPropagates: a second process sharing the NATS server sees
// writes through its watch, which is how ingest nodes learn about keys.
func TestWatchPropagates(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	a, b := openMeta(t, q), openMeta(t, q)
	org, _ := a.CreateOrganization(ctx, "Acme", "acme", 0)
	team, _ := a.CreateTeam(ctx, org, "T", "t")
	_, key, err := a.CreateProject(ctx, team, "P", "p", "")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if k, _, ok := b.KeyByPublic(key.Public); ok && k.Active {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("key never reached the other store")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cp := *key
	cp.Active = false
	if err := a.UpdateKey(ctx, &cp); err != nil {
		t.Fatal(err)
	}
	for {
		if k, _, _ := b.KeyByPublic(key.Public); !k.Active {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("key update never reached the other store")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGroupIDsUnderContention: concurrent resolvers, in two "processes",
// agree on one id per hash, and short ids are dense per project.
func TestGroupIDsUnderContention(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	g1, err := meta.OpenGroups(ctx, q.JetStream(), 1)
	if err != nil {
		t.Fatal(err)
	}
	g2, _ := meta.OpenGroups(ctx, q.JetStream(), 1)
	hashes := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	var mu sync.Mutex
	ids := map[string]map[uint64]bool{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			g := g1
			if w%2 == 1 {
				g = g2
			}
			for _, h := range hashes {
				ref, _, err := g.Resolve(ctx, 1, "v1", h)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if ids[h] == nil {
					ids[h] = map[uint64]bool{}
				}
				ids[h][ref.ID] = true
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	shorts := map[uint64]bool{}
	for _, h := range hashes {
		if len(ids[h]) != 1 {
			t.Fatalf("hash %s got ids %v", h, ids[h])
		}
		for id := range ids[h] {
			ref, err := g1.Get(ctx, id)
			if err != nil || ref.ProjectID != 1 || ref.Hash != h {
				t.Fatalf("Get(%d) = %+v, %v", id, ref, err)
			}
			shorts[ref.ShortID] = true
		}
	}
	for i := uint64(1); i <= uint64(len(hashes)); i++ {
		if !shorts[i] {
			t.Errorf("short ids %v are not 1..%d", shorts, len(hashes))
			break
		}
	}
	// Another project has its own short ids; another config its own issue.
	ref, created, _ := g1.Resolve(ctx, 2, "v1", "a")
	if !created || ref.ShortID != 1 {
		t.Errorf("project 2: %+v created=%v", ref, created)
	}
	ref2, created, _ := g1.Resolve(ctx, 1, "v2", "a")
	if !created || ref2.ID == ref.ID {
		t.Errorf("config v2: %+v", ref2)
	}
	if _, err := g1.Get(ctx, 999999); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("Get(unknown) = %v", err)
	}
}

// TestUpdateOrganization renames an organization and changes its slug:
// the new slug is claimed, the old one freed, another process's cache
// follows, and a taken or invalid slug changes nothing.
func TestUpdateOrganization(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	m := openMeta(t, q)
	other := openMeta(t, q)
	org, err := m.CreateOrganization(ctx, "Acme", "acme", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateOrganization(ctx, "Taken", "taken", 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, slug string
		want       error
	}{
		{"Acme", "taken", meta.ErrExists},
		{"Acme", "Bad Slug", meta.ErrInvalid},
		{"", "acme", meta.ErrInvalid},
		{string(make([]byte, meta.MaxNameLen+1)), "acme", meta.ErrInvalid},
	} {
		cp := *org
		cp.Name, cp.Slug = tc.name, tc.slug
		if err := m.UpdateOrganization(ctx, &cp); !errors.Is(err, tc.want) {
			t.Errorf("update to %q/%q: %v, want %v", tc.name, tc.slug, err, tc.want)
		}
		if got, ok := m.Organization("acme"); !ok || got.Name != "Acme" {
			t.Errorf("a refused update changed the organization: %+v", got)
		}
	}
	cp := *org
	cp.Name, cp.Slug = "Acme Inc", "acme-inc"
	if err := m.UpdateOrganization(ctx, &cp); err != nil {
		t.Fatal(err)
	}
	if got, ok := m.Organization("acme-inc"); !ok || got.Name != "Acme Inc" || got.ID != org.ID || !got.HasMember(1) {
		t.Errorf("renamed = %+v", got)
	}
	if _, ok := m.Organization("acme"); ok {
		t.Error("the old slug still resolves")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, oldOK := other.Organization("acme")
		if o, ok := other.Organization("acme-inc"); ok && !oldOK && o.Name == "Acme Inc" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other process did not see the rename")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The old slug is free again; the new one is not.
	if _, err := m.CreateOrganization(ctx, "New Acme", "acme", 1); err != nil {
		t.Errorf("old slug not freed: %v", err)
	}
	if _, err := m.CreateOrganization(ctx, "x", "acme-inc", 1); !errors.Is(err, meta.ErrExists) {
		t.Errorf("new slug not claimed: %v", err)
	}
}

// TestRestoreOrganization marks an organization for deletion and restores
// it with one of its projects; the other stays pending.
func TestRestoreOrganization(t *testing.T) {
	ctx := context.Background()
	m := openMeta(t, openQueue(t))
	org, _ := m.CreateOrganization(ctx, "Acme", "acme", 1)
	team, _ := m.CreateTeam(ctx, org, "t", "t")
	p1, _, _ := m.CreateProject(ctx, team, "a", "a", "go")
	p2, _, _ := m.CreateProject(ctx, team, "b", "b", "go")
	if _, err := m.MarkOrganizationForDeletion(ctx, org.ID); err != nil {
		t.Fatal(err)
	}
	o, err := m.RestoreOrganization(ctx, org.ID, []uint64{p1.ID})
	if err != nil || o.Status != "" {
		t.Fatalf("restore = %+v, %v", o, err)
	}
	if got, _ := m.Organization("acme"); got.Status != "" {
		t.Errorf("organization status %q", got.Status)
	}
	if got, _ := m.ProjectByID(p1.ID); got.Status != meta.ProjectActive {
		t.Errorf("restored project status %q", got.Status)
	}
	if got, _ := m.ProjectByID(p2.ID); got.Status != meta.StatusPendingDeletion {
		t.Errorf("other project status %q", got.Status)
	}
	if _, err := m.RestoreProject(ctx, 999); !errors.Is(err, meta.ErrNotFound) {
		t.Errorf("restore unknown project: %v", err)
	}
}

func TestUsersAndAdminPassword(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	m := openMeta(t, q)
	u, err := m.CreateUser(ctx, " Ann@Example.com ", "Ann", "a long password", false)
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "ann@example.com" || u.PasswordHash == "" || !meta.CheckPassword(u.PasswordHash, "a long password") {
		t.Fatalf("user %+v", u)
	}
	if _, err := m.CreateUser(ctx, "ANN@example.com", "Ann", "a long password", false); !errors.Is(err, meta.ErrExists) {
		t.Fatalf("duplicate e-mail: %v", err)
	}
	for _, c := range []struct{ email, pw string }{{"not-an-email", "a long password"}, {"b@example.com", "short"}} {
		if _, err := m.CreateUser(ctx, c.email, "", c.pw, false); !errors.Is(err, meta.ErrInvalid) {
			t.Errorf("%q %q: %v", c.email, c.pw, err)
		}
	}
	if got, ok := m.UserByEmail("ann@EXAMPLE.com"); !ok || got.ID != u.ID {
		t.Fatalf("by e-mail: %+v %v", got, ok)
	}
	u2, err := m.SetPassword(ctx, u.ID, "another long password")
	if err != nil || u2.PasswordVersion != u.PasswordVersion+1 || meta.CheckPassword(u2.PasswordHash, "a long password") {
		t.Fatalf("set password: %+v %v", u2, err)
	}

	// The admin from the environment: created, then unchanged by a restart
	// with the same password, then updated by another password.
	if m.HasPasswordUser() != true {
		t.Fatal("HasPasswordUser")
	}
	a, err := m.EnsureAdminPassword(ctx, "root@example.com", "admin password 1")
	if err != nil || !a.Superuser {
		t.Fatalf("admin: %+v %v", a, err)
	}
	m2 := openMeta(t, q) // another process, from the bucket
	again, err := m2.EnsureAdminPassword(ctx, "root@example.com", "admin password 1")
	if err != nil || again.ID != a.ID || again.PasswordVersion != a.PasswordVersion || again.PasswordHash != a.PasswordHash {
		t.Fatalf("same password changed the admin: %+v %+v %v", a, again, err)
	}
	other, err := m2.EnsureAdminPassword(ctx, "root@example.com", "admin password 2")
	if err != nil || other.ID != a.ID || other.PasswordVersion != a.PasswordVersion+1 || !meta.CheckPassword(other.PasswordHash, "admin password 2") {
		t.Fatalf("new password: %+v %v", other, err)
	}
	// An existing user without the superuser flag becomes a superuser.
	up, err := m2.EnsureAdminPassword(ctx, "ann@example.com", "another long password")
	if err != nil || up.ID != u.ID || !up.Superuser || up.PasswordVersion != u2.PasswordVersion {
		t.Fatalf("promote: %+v %v", up, err)
	}
	if _, err := m2.EnsureAdminPassword(ctx, "x@example.com", "short"); !errors.Is(err, meta.ErrInvalid) {
		t.Fatalf("short admin password: %v", err)
	}
}

// TestPasswordOnPreviousVersionUser: a user the previous version wrote (no
// password fields) loads without a password, and FAULTLINE_ADMIN_EMAIL
// with its e-mail gives it one, keeping its id and its token.
func TestPasswordOnPreviousVersionUser(t *testing.T) {
	ctx := context.Background()
	q := openQueue(t)
	kv, err := q.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "faultline-meta", History: 1})
	if err != nil {
		t.Fatal(err)
	}
	h := meta.HashToken("previous-version-token-0123456789abcdef")
	kv.Put(ctx, "seq.user", []byte("1"))                                                                                                                                //nolint:errcheck
	kv.Put(ctx, "users.1", []byte(`{"id":1,"email":"admin@localhost","name":"admin","superuser":true,"dateCreated":"2026-01-01T00:00:00Z"}`))                           //nolint:errcheck
	kv.Put(ctx, "tokens."+h, []byte(`{"hash":"`+h+`","userId":1,"name":"FAULTLINE_ADMIN_TOKEN","scopes":["*"],"dateCreated":"2026-01-01T00:00:00Z","bootstrap":true}`)) //nolint:errcheck
	m := openMeta(t, q)
	if u, ok := m.User(1); !ok || u.PasswordHash != "" || m.HasPasswordUser() {
		t.Fatalf("previous user: %+v %v", u, ok)
	}
	u, err := m.EnsureAdminPassword(ctx, "admin@localhost", "a password for the admin")
	if err != nil || u.ID != 1 || !meta.CheckPassword(u.PasswordHash, "a password for the admin") || !m.HasPasswordUser() {
		t.Fatalf("EnsureAdminPassword: %+v %v", u, err)
	}
	if tu, _, ok := m.Authenticate("previous-version-token-0123456789abcdef"); !ok || tu.ID != 1 {
		t.Fatalf("the token after: %+v %v", tu, ok)
	}
	if n, err := m.NextID(ctx, "user"); err != nil || n != 2 {
		t.Fatalf("no user was added: next id %d %v", n, err)
	}
}
