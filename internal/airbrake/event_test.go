package airbrake

import (
	"slices"
	"testing"
)

func TestPlatformOf(t *testing.T) {
	cases := []struct{ notifier, language, framework, want string }{
		{"airbrake-js/node", "JavaScript", "", "node"},
		{"airbrake-js/browser", "JavaScript", "", "javascript"},
		{"airbrake-js", "", "", "javascript"},
		{"gobrake", "go1.22.1", "", "go"},
		{"", "go1.26.8", "", "go"},
		{"airbrake-ruby", "ruby/3.2.2", "", "ruby"},
		{"Airbrake Notifier", "", "", "ruby"},
		{"Hoptoad Notifier", "", "Rails: 3.2.11", "ruby"},
		{"pybrake", "Python/3.12.1", "", "python"},
		{"phpbrake", "PHP 8.3", "", "php"},
		{"javabrake", "Java/21", "", "java"},
		{"sharpbrake", "C#", "", "csharp"},
		{"notifier name", "Ruby 2.1.1", "", "ruby"},
		{"S42", "", "", "other"},
	}
	for _, c := range cases {
		if got := platformOf(c.notifier, c.language, c.framework); got != c.want {
			t.Errorf("platformOf(%q, %q, %q) = %q, want %q", c.notifier, c.language, c.framework, got, c.want)
		}
	}
}

func TestSplitNameVersion(t *testing.T) {
	cases := []struct{ in, name, version string }{
		{"go1.22.1", "go", "1.22.1"},
		{"Ruby 2.1.1", "Ruby", "2.1.1"},
		{"ruby/3.2.2", "ruby", "3.2.2"},
		{"Python/3.12.1", "Python", "3.12.1"},
		{"Linux/6.18.44-fc-v782", "Linux", "6.18.44-fc-v782"},
		{"JavaScript", "JavaScript", ""},
		{"linux", "linux", ""},
		{"12", "12", ""},
	}
	for _, c := range cases {
		if n, v := splitNameVersion(c.in); n != c.name || v != c.version {
			t.Errorf("splitNameVersion(%q) = %q, %q; want %q, %q", c.in, n, v, c.name, c.version)
		}
	}
}

// The module names @sentry/node gave the same files (captured from the real
// SDK in e2e/clients/captures/sentry-node).
func TestNodeModule(t *testing.T) {
	base := "/work/main/e2e/clients"
	cases := []struct{ file, want string }{
		{"/work/main/e2e/clients/sentry-node.mjs", "sentry-node"},
		{"/work/main/e2e/clients/common.mjs", "common"},
		{"node:internal/modules/esm/module_job", "module_job"},
		{"node:internal/process/task_queues", "task_queues"},
		{"/work/main/e2e/clients/lib/db/pool.js", "lib.db:pool"},
		{"/work/main/e2e/clients/node_modules/@airbrake/node/dist/notifier.js", "@airbrake.node.dist:notifier"},
		{"/elsewhere/x.cjs", "x"},
		{"/work/main/e2e/clients/my%20file.js", "my file"},
		{"", ""},
	}
	for _, c := range cases {
		if got := nodeModule(c.file, base); got != c.want {
			t.Errorf("nodeModule(%q) = %q, want %q", c.file, got, c.want)
		}
	}
	if got := jsPath("file:///work/main/e2e/clients/a%20b.mjs"); got != "/work/main/e2e/clients/a b.mjs" {
		t.Errorf("jsPath = %q", got)
	}
	if got := jsPath("file:///C:/app/a.js"); got != "C:/app/a.js" {
		t.Errorf("jsPath windows = %q", got)
	}
	for file, want := range map[string]bool{
		"/app/a.js": true, "/app/node_modules/x/a.js": false, "node:internal/x": false,
		"webpack://app/a.js": true, "C:/app/a.js": true, "./a.js": true, "a.js": false,
	} {
		if got := nodeInApp(file); got != want {
			t.Errorf("nodeInApp(%q) = %v", file, got)
		}
	}
}

func TestGoLayout(t *testing.T) {
	frames := []Frame{
		{File: "/home/ci/src/shop/internal/payment/charge.go"},
		{File: "/home/ci/src/shop/cmd/api/main.go"},
		{File: "/home/ci/go/pkg/mod/github.com/!burnt!sushi/toml@v1.3.2/internal/tz.go"},
		{File: "/GOPATH/example.org/legacy/lib/x.go"},
		{File: "/usr/local/go/src/net/http/server.go"},
		{File: "/usr/local/go/src/testing/testing.go"},
	}
	l := newGoLayout(frames, "example.com/shop/internal/payment")
	// The directory is named as the module's last element, so the match
	// runs one level past the module root; files of the module map the
	// same either way.
	if l.goroot != "/usr/local/go" || l.modRoot != "/home/ci/src" || l.modPath != "example.com" {
		t.Fatalf("layout = %+v", l)
	}
	cases := []struct {
		file, module string
		inApp        bool
	}{
		{"/home/ci/src/shop/internal/payment/charge.go", "example.com/shop/internal/payment", true},
		{"/home/ci/src/shop/cmd/api/main.go", "example.com/shop/cmd/api", true},
		{"/home/ci/src/shop/main.go", "example.com/shop", true},
		{"/home/ci/src/shop/vendor/github.com/x/y/y.go", "example.com/shop/vendor/github.com/x/y", false},
		{"/home/ci/go/pkg/mod/github.com/!burnt!sushi/toml@v1.3.2/internal/tz.go", "github.com/BurntSushi/toml/internal", true},
		{"/home/ci/go/pkg/mod/github.com/!burnt!sushi/toml@v1.3.2/decode.go", "github.com/BurntSushi/toml", true},
		{"/GOPATH/example.org/legacy/lib/x.go", "example.org/legacy/lib", true},
		{"/usr/local/go/src/net/http/server.go", "net/http", false},
		{"/usr/local/go/src/testing/testing.go", "testing", false},
		{"/opt/other/thing.go", "", true},
	}
	for _, c := range cases {
		m := l.module(c.file)
		if m != c.module || l.inApp(c.file, m) != c.inApp {
			t.Errorf("%s: module %q in-app %v, want %q %v", c.file, m, l.inApp(c.file, m), c.module, c.inApp)
		}
	}

	// An external test package: its _test.go files are x_test, the rest x.
	l = newGoLayout([]Frame{{File: "/src/app/internal/server/a_test.go"}}, "example.com/app/internal/server_test")
	if got := l.module("/src/app/internal/server/b_test.go"); got != "example.com/app/internal/server_test" {
		t.Errorf("test file: %q", got)
	}
	if got := l.module("/src/app/internal/server/server.go"); got != "example.com/app/internal/server" {
		t.Errorf("package file: %q", got)
	}
	if got := l.module("/src/app/internal/store/s.go"); got != "example.com/app/internal/store" {
		t.Errorf("sibling package: %q", got)
	}

	// package main in a directory that shares nothing with "main": only
	// that directory is known.
	l = newGoLayout([]Frame{{File: "/srv/tool/main.go"}, {File: "/usr/lib/go-1.22/src/runtime/proc.go"}}, "main")
	if l.module("/srv/tool/main.go") != "main" || l.module("/srv/tool/sub/x.go") != "" || l.goroot != "/usr/lib/go-1.22" {
		t.Errorf("main: %+v", l)
	}
	// A directory matched in full says nothing about its parents.
	l = newGoLayout([]Frame{{File: "/app/x.go"}}, "app")
	if l.modRoot != "" || l.module("/app/x.go") != "app" || l.module("/usr/y.go") != "" {
		t.Errorf("full match: %+v", l)
	}
	// No component: nothing about the main module.
	l = newGoLayout(frames, "")
	if l.module("/home/ci/src/shop/cmd/api/main.go") != "" || l.goroot != "/usr/local/go" {
		t.Errorf("no component: %+v", l)
	}
}

func TestCodeContext(t *testing.T) {
	code := map[int64]string{1: "a", 2: "b", 3: "c\n", 4: "d", 6: "f", 10: "j"}
	pre, line, post := codeContext(code, 3)
	if !slices.Equal(pre, []string{"a", "b"}) || line != "c" || !slices.Equal(post, []string{"d"}) {
		t.Errorf("got %q %q %q", pre, line, post)
	}
	if pre, line, post := codeContext(code, 5); pre != nil || line != "" || post != nil {
		t.Errorf("missing line: %q %q %q", pre, line, post)
	}
}

func TestEventFields(t *testing.T) {
	n, err := ParseNotice([]byte(`{
		"errors": [{"type": "", "message": "disk almost full", "backtrace": [{"file": "/srv/a.py", "line": 3, "function": "f"}]}],
		"context": {"severity": "NOTICE", "userId": 9, "userUsername": "nine", "userEmail": "n@example.com",
		            "component": "jobs", "action": "cleanup", "rootDirectory": "/srv/", "language": "Python/3.12",
		            "revision": "abc", "os": "", "hostname": "h1"},
		"params": {"tags": {"k": "v", "": "x", "n": null}}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	e := n.Event()
	if e.Exception != nil || e.LogEntry == nil || e.LogEntry.Formatted != "disk almost full" || e.Stacktrace == nil {
		t.Fatalf("a lone error without a type is a message with a stack trace: %+v", e)
	}
	if f := e.Stacktrace.Frames[0]; f.Filename != "a.py" || !f.IsInApp() {
		t.Errorf("frame %+v", f)
	}
	if e.Level != "info" || e.Release != "abc" || e.Transaction != "jobs#cleanup" || e.ServerName != "h1" || e.Platform != "python" {
		t.Errorf("level %q release %q transaction %q server %q platform %q", e.Level, e.Release, e.Transaction, e.ServerName, e.Platform)
	}
	if u := e.User; u == nil || u.ID != "9" || u.Username != "nine" || u.Email != "n@example.com" {
		t.Errorf("user %+v", e.User)
	}
	want := []string{"component=jobs", "action=cleanup", "k=v"}
	var got []string
	for _, p := range e.Tags {
		got = append(got, p[0]+"="+p[1])
	}
	if !slices.Equal(got, want) {
		t.Errorf("tags %v, want %v", got, want)
	}
	if _, ok := e.Contexts["os"]; ok {
		t.Errorf("an empty os makes no context: %s", e.Contexts["os"])
	}
}
