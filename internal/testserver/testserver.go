// Package testserver runs a real Faultline server inside a test process and
// talks to its API, for end-to-end tests.
package testserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/testenv"
)

// AdminToken is the superuser token test servers start with.
const AdminToken = "test-admin-token-0123456789abcdef0123"

// Faultline is a real Faultline server running in the test process: embedded
// NATS and, unless the config names a server, embedded chDB.
type Faultline struct {
	URL    string
	Server *server.Server
	t      testing.TB
}

// Start runs a server with cfg (DataDir and Addr default to a temporary
// directory and a free port) until the test ends.
func Start(t testing.TB, cfg server.Config) *Faultline {
	t.Helper()
	return start(t, cfg, nil)
}

// StartWithLog is Start with the server's log, at every level, written to
// w (which must be safe for concurrent use).
func StartWithLog(t testing.TB, cfg server.Config, w io.Writer) *Faultline {
	t.Helper()
	return start(t, cfg, w)
}

func start(t testing.TB, cfg server.Config, logTo io.Writer) *Faultline {
	t.Helper()
	if cfg.Store.URL == "" {
		cfg.Store.CHDBLib = testenv.CHDBLib(t)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = ln.Addr().String()
	cfg.PublicURL = "http://" + cfg.Addr
	if cfg.AdminToken == "" {
		cfg.AdminToken = AdminToken
	}
	if cfg.Worker.BatchWait == 0 {
		cfg.Worker.BatchWait = 200 * time.Millisecond
	}
	level := slog.LevelWarn
	if os.Getenv("FAULTLINE_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	var out io.Writer = os.Stderr
	if logTo != nil {
		out, level = logTo, slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, cfg, log)
	if err != nil {
		cancel()
		ln.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ctx, ln) //nolint:errcheck
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		s.Close()
	})
	return &Faultline{URL: cfg.PublicURL, Server: s, t: t}
}

// Do calls the API with the admin token and decodes a JSON answer into out
// (if not nil). It returns the status and the raw body.
func (f *Faultline) Do(method, path string, body any, out any) (int, []byte) {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			f.t.Fatalf("%s %s: %v\n%s", method, path, err, raw)
		}
	}
	return resp.StatusCode, raw
}

// Project is a project created for a test, with its DSN.
type Project struct {
	Org, Slug, ID, DSN, PublicKey string
}

// CreateProject creates an organization, a team and a project through the
// API and returns the project's DSN.
func (f *Faultline) CreateProject(org, project, platform string) Project {
	f.t.Helper()
	if st, raw := f.Do("POST", "/api/0/organizations/", map[string]string{"name": org, "slug": org}, nil); st != 201 && st != 409 {
		f.t.Fatalf("create org: %d %s", st, raw)
	}
	if st, raw := f.Do("POST", "/api/0/organizations/"+org+"/teams/", map[string]string{"name": "team", "slug": "team"}, nil); st != 201 && st != 409 {
		f.t.Fatalf("create team: %d %s", st, raw)
	}
	var p struct {
		ID string `json:"id"`
	}
	if st, raw := f.Do("POST", "/api/0/teams/"+org+"/team/projects/", map[string]string{"name": project, "slug": project, "platform": platform}, &p); st != 201 {
		f.t.Fatalf("create project: %d %s", st, raw)
	}
	var keys []struct {
		Public string `json:"public"`
		DSN    struct {
			Public string `json:"public"`
		} `json:"dsn"`
	}
	if st, raw := f.Do("GET", "/api/0/projects/"+org+"/"+project+"/keys/", nil, &keys); st != 200 || len(keys) == 0 {
		f.t.Fatalf("keys: %d %s", st, raw)
	}
	return Project{Org: org, Slug: project, ID: p.ID, DSN: keys[0].DSN.Public, PublicKey: keys[0].Public}
}

// Issue is the part of Sentry's issue JSON tests look at.
type Issue struct {
	ID        string         `json:"id"`
	ShortID   string         `json:"shortId"`
	Title     string         `json:"title"`
	Culprit   string         `json:"culprit"`
	Level     string         `json:"level"`
	Status    string         `json:"status"`
	Count     string         `json:"count"`
	UserCount int            `json:"userCount"`
	Type      string         `json:"type"`
	Metadata  map[string]any `json:"metadata"`
	FirstSeen string         `json:"firstSeen"`
	LastSeen  string         `json:"lastSeen"`
}

// Issues lists all issues of a project (any status).
func (f *Faultline) Issues(p Project) []Issue {
	f.t.Helper()
	var out []Issue
	if st, raw := f.Do("GET", "/api/0/projects/"+p.Org+"/"+p.Slug+"/issues/?query=&limit=100", nil, &out); st != 200 {
		f.t.Fatalf("issues: %d %s", st, raw)
	}
	return out
}

// WaitIssues polls until cond holds for the project's issues, or fails
// the test after timeout.
func (f *Faultline) WaitIssues(p Project, timeout time.Duration, cond func([]Issue) bool) []Issue {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		is := f.Issues(p)
		if cond(is) {
			return is
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, i := range is {
				b.WriteString("\n  " + i.Title + " count=" + i.Count)
			}
			f.t.Fatalf("timed out waiting for issues; have %d:%s", len(is), b.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitEvent polls the API until the project's event id is stored, decodes
// it into out, or fails t after 30 s.
func (f *Faultline) WaitEvent(t testing.TB, p Project, id string, out any) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st, _ := f.Do("GET", "/api/0/projects/"+p.Org+"/"+p.Slug+"/events/"+id+"/", nil, out); st == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %s was not stored", id)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TotalCount sums the issues' event counts.
func TotalCount(is []Issue) int {
	n := 0
	for _, i := range is {
		var c int
		json.Unmarshal([]byte(i.Count), &c) //nolint:errcheck
		n += c
	}
	return n
}
