// Package deploy holds the deployment files (Dockerfile build steps,
// compose.yaml, systemd units); this test keeps them in step with the
// README and with the binary's flags. deploy/check.sh runs the tools that
// validate them (docker-compose config, systemd-analyze verify).
package deploy

import (
	"bufio"
	"flag"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/faultline/faultline/internal/cli"
)

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Ports       []string          `yaml:"ports"`
		Environment map[string]string `yaml:"environment"`
		Profiles    []string          `yaml:"profiles"`
		Healthcheck struct {
			Test    []string `yaml:"test"`
			Disable bool     `yaml:"disable"`
		} `yaml:"healthcheck"`
		StopGracePeriod string `yaml:"stop_grace_period"`
	} `yaml:"services"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("compose.yaml has no services")
	}
	return c
}

// hostPorts returns the published host ports of a compose ports list
// ("8000:80", "127.0.0.1:8000:80").
func hostPorts(ports []string) []string {
	var out []string
	for _, p := range ports {
		parts := strings.Split(p, ":")
		if len(parts) >= 2 {
			out = append(out, parts[len(parts)-2])
		}
	}
	sort.Strings(out)
	return out
}

// readmeServices reads the README's table of compose services: the first
// column names the service in backticks, the third its published ports
// ("—" for none).
func readmeServices(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	begin, end := strings.Index(s, "<!-- compose-services:begin -->"), strings.Index(s, "<!-- compose-services:end -->")
	if begin < 0 || end < begin {
		t.Fatal("README.md has no <!-- compose-services:begin --> ... end table")
	}
	out := map[string][]string{}
	name := regexp.MustCompile("^`([a-z0-9-]+)`")
	for _, line := range strings.Split(s[begin:end], "\n") {
		cells := strings.Split(strings.Trim(line, "| "), "|")
		if len(cells) < 3 {
			continue
		}
		m := name.FindStringSubmatch(strings.TrimSpace(cells[0]))
		if m == nil {
			continue
		}
		var ports []string
		for _, p := range strings.Split(cells[2], ",") {
			if p = strings.Trim(strings.TrimSpace(p), "`"); p != "" && p != "—" {
				ports = append(ports, p)
			}
		}
		sort.Strings(ports)
		out[m[1]] = ports
	}
	return out
}

// TestComposeMatchesREADME: the README documents exactly compose.yaml's
// services and their published ports.
func TestComposeMatchesREADME(t *testing.T) {
	c := readCompose(t)
	doc := readmeServices(t)
	for name, svc := range c.Services {
		ports, ok := doc[name]
		if !ok {
			t.Errorf("service %s of compose.yaml is not in the README's table", name)
			continue
		}
		if got := hostPorts(svc.Ports); !slices.Equal(got, ports) {
			t.Errorf("service %s publishes %v, the README says %v", name, got, ports)
		}
	}
	for name := range doc {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("the README lists service %s, which compose.yaml lacks", name)
		}
	}
}

// flagOf maps a FAULTLINE_* variable to its flag name.
func flagOf(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "FAULTLINE_")), "_", "-")
}

// envOnly are the variables read without a flag (secrets of the bootstrap).
var envOnly = []string{"FAULTLINE_ADMIN_TOKEN", "FAULTLINE_ADMIN_EMAIL", "FAULTLINE_ADMIN_PASSWORD"}

func checkEnv(t *testing.T, fs *flag.FlagSet, where, env string) {
	t.Helper()
	if !strings.HasPrefix(env, "FAULTLINE_") || slices.Contains(envOnly, env) {
		return
	}
	if fs.Lookup(flagOf(env)) == nil {
		t.Errorf("%s sets %s, but faultline has no --%s", where, env, flagOf(env))
	}
}

func checkArgs(t *testing.T, fs *flag.FlagSet, where string, args []string) {
	t.Helper()
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if fs.Lookup(name) == nil {
			t.Errorf("%s passes %s, which faultline serve does not know", where, a)
		}
	}
}

// TestComposeFaultline: Faultline's services use flags and variables the
// binary has, every long-running role has a /readyz health check, and
// compose waits longer than --shutdown-timeout before it kills.
func TestComposeFaultline(t *testing.T) {
	c := readCompose(t)
	fs := cli.Flags()
	timeout := fs.Lookup("shutdown-timeout").Value.(flag.Getter).Get().(time.Duration)
	roles := map[string]bool{}
	for name, svc := range c.Services {
		if !strings.HasPrefix(svc.Image, "faultline:") {
			continue
		}
		if len(svc.Command) == 0 || (svc.Command[0] != "serve" && svc.Command[0] != "migrate") {
			t.Errorf("service %s runs %v: want faultline serve or migrate", name, svc.Command)
			continue
		}
		checkArgs(t, fs, "service "+name, svc.Command[1:])
		for env := range svc.Environment {
			checkEnv(t, fs, "service "+name, env)
		}
		if svc.Command[0] == "migrate" {
			continue
		}
		role := "all"
		if i := slices.Index(svc.Command, "--role"); i >= 0 && i+1 < len(svc.Command) {
			role = svc.Command[i+1]
		}
		roles[role] = true
		if svc.Healthcheck.Disable || !strings.Contains(strings.Join(svc.Healthcheck.Test, " "), "/readyz") {
			t.Errorf("service %s has no /readyz health check: %v", name, svc.Healthcheck.Test)
		}
		d, err := time.ParseDuration(svc.StopGracePeriod)
		if err != nil || d <= timeout {
			t.Errorf("service %s: stop_grace_period %q, want more than --shutdown-timeout (%s)", name, svc.StopGracePeriod, timeout)
		}
	}
	for _, r := range []string{"ingest", "worker", "api", "all"} {
		if !roles[r] {
			t.Errorf("compose.yaml runs no %s role", r)
		}
	}
}

// unit is a systemd unit's [Service] section: key → values.
func readUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Errorf("%s: bad line %q", path, line)
			}
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

// TestSystemdUnits: each role has a unit whose ExecStart uses flags the
// binary has, restarts on failure, raises the file limit, keeps its state
// in its own StateDirectory, and lets a graceful shutdown finish.
func TestSystemdUnits(t *testing.T) {
	fs := cli.Flags()
	timeout := fs.Lookup("shutdown-timeout").Value.(flag.Getter).Get().(time.Duration)
	want := map[string]string{
		"systemd/faultline.service":        "all",
		"systemd/faultline-ingest.service": "ingest",
		"systemd/faultline-worker.service": "worker",
		"systemd/faultline-api.service":    "api",
	}
	states := map[string]string{}
	for path, role := range want {
		u := readUnit(t, path)
		exec := u["Service.ExecStart"]
		if len(exec) != 1 {
			t.Fatalf("%s: ExecStart %v", path, exec)
		}
		args := strings.Fields(exec[0])
		if len(args) < 2 || args[0] != "/usr/local/bin/faultline" || args[1] != "serve" {
			t.Errorf("%s: ExecStart %q, want /usr/local/bin/faultline serve ...", path, exec[0])
		}
		checkArgs(t, fs, path, args[2:])
		got := "all"
		if i := slices.Index(args, "--role"); i >= 0 && i+1 < len(args) {
			got = args[i+1]
		}
		if got != role {
			t.Errorf("%s runs role %s, want %s", path, got, role)
		}
		for k, v := range map[string]string{"Restart": "on-failure", "DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict"} {
			if g := u["Service."+k]; len(g) != 1 || g[0] != v {
				t.Errorf("%s: %s=%v, want %s", path, k, g, v)
			}
		}
		if g := u["Service.LimitNOFILE"]; len(g) != 1 || atoi(g[0]) < 65536 {
			t.Errorf("%s: LimitNOFILE %v, want at least 65536", path, g)
		}
		stop, err := time.ParseDuration(strings.Join(u["Service.TimeoutStopSec"], ""))
		if err != nil || stop <= timeout {
			t.Errorf("%s: TimeoutStopSec %v, want more than --shutdown-timeout (%s)", path, u["Service.TimeoutStopSec"], timeout)
		}
		st := strings.Join(u["Service.StateDirectory"], "")
		if st == "" || !strings.Contains(exec[0], "--data-dir /var/lib/"+st) {
			t.Errorf("%s: StateDirectory %q is not its --data-dir", path, st)
		}
		if other, dup := states[st]; dup {
			t.Errorf("%s and %s share StateDirectory %s (their dynamic users would fight over it)", path, other, st)
		}
		states[st] = path
		for _, e := range u["Service.Environment"] {
			name, _, _ := strings.Cut(e, "=")
			checkEnv(t, fs, path, name)
		}
	}
	b, err := os.ReadFile("systemd/faultline.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "#")
		if name, _, ok := strings.Cut(line, "="); ok && strings.HasPrefix(name, "FAULTLINE_") && !strings.Contains(name, " ") {
			checkEnv(t, fs, "faultline.env.example", name)
		}
	}
}

// TestDockerfile: the images are built by deploy/build.sh (which CI runs),
// in the two targets the README names.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"deploy/build.sh binary", "deploy/build.sh chdb", " AS server", " AS all-in-one", "/readyz"} {
		if !strings.Contains(s, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	// go build and npm run only through the script.
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "RUN") && (strings.Contains(line, "go build") || strings.Contains(line, "npm ")) {
			t.Errorf("the Dockerfile builds outside deploy/build.sh: %s", line)
		}
	}
	fs := cli.Flags()
	for _, m := range regexp.MustCompile(`FAULTLINE_[A-Z_]+`).FindAllString(s, -1) {
		checkEnv(t, fs, "Dockerfile", m)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
