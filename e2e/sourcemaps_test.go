package e2e

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/artifact"
	"github.com/faultline/faultline/internal/deletion"
	"github.com/faultline/faultline/internal/server"
	"github.com/faultline/faultline/internal/sourcemap"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/internal/testserver"
)

// appSource is the small application the tests bundle and minify.
const appSource = `import { checkout } from "./cart.js";

export function start(items) {
  return checkout(items, { currency: "EUR" });
}
window.addEventListener("load", () => start([{ price: 3 }]));
`

const cartSource = `export function checkout(items, options) {
  let total = 0;
  for (const item of items) {
    total += item.price;
  }
  if (options.currency === "EUR") {
    throw new Error("checkout failed: " + total);
  }
  return total;
}
`

// buildApp bundles and minifies the application with esbuild (from npm),
// with a source map, into dir/dist; with inject, sentry-cli 3.x injects
// debug ids into both files. It returns the dist directory and the debug
// id ("" without inject).
func buildApp(t *testing.T, cli string, inject bool) (string, string) {
	t.Helper()
	esbuild, err := filepath.Abs("clients/node_modules/.bin/esbuild")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(esbuild); err != nil {
		testenv.Missing(t, "esbuild is not installed (run `make clients`)")
		return "", ""
	}
	dir := t.TempDir()
	for name, src := range map[string]string{"src/app.js": appSource, "src/cart.js": cartSource} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755) //nolint:errcheck
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(esbuild, "src/app.js", "--bundle", "--minify", "--sourcemap", "--format=iife", "--outfile=dist/app.min.js")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, out)
	}
	dist := filepath.Join(dir, "dist")
	if !inject {
		return dist, ""
	}
	runCLI(t, nil, cli, "", dir, "sourcemaps", "inject", "dist")
	min, err := os.ReadFile(filepath.Join(dist, "app.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`//# debugId=([0-9a-fA-F-]{36})`).FindSubmatch(min)
	if m == nil {
		t.Fatalf("sentry-cli inject left no debug id:\n%s", min)
	}
	return dist, string(m[1])
}

// runCLI runs a sentry-cli binary offline (against f, with token, when f
// is not nil) and returns its output; it fails the test on an error.
func runCLI(t *testing.T, f *testserver.Faultline, bin, token, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"SENTRY_DISABLE_UPDATE_CHECK=true", "SENTRY_LOAD_DOTENV=0", "SENTRY_NO_PROGRESS_BAR=1",
		"SENTRY_LOG_LEVEL=warn", "HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	if f != nil {
		cmd.Env = append(cmd.Env, "SENTRY_URL="+f.URL, "SENTRY_AUTH_TOKEN="+token, "SENTRY_ORG=acme")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sentry-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// waitArtifact polls a lookup until it finds a file (bundles are
// assembled by the worker role, after sentry-cli returns).
func waitArtifact(t *testing.T, what string, find func() (*sourcemap.Artifact, error)) *sourcemap.Artifact {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, err := find()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if a != nil {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not found", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func projectID(t *testing.T, p testserver.Project) uint64 {
	t.Helper()
	id, err := strconv.ParseUint(p.ID, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// checkUploaded checks that the minified file and its map of dist are
// found, with the bytes esbuild wrote.
func checkUploaded(t *testing.T, dist string, find func(kind, url string) (*sourcemap.Artifact, error)) {
	t.Helper()
	for _, c := range []struct{ kind, file string }{{artifact.KindMinifiedSource, "app.min.js"}, {artifact.KindSourceMap, "app.min.js.map"}} {
		a := waitArtifact(t, c.file, func() (*sourcemap.Artifact, error) { return find(c.kind, "~/"+c.file) })
		want, err := os.ReadFile(filepath.Join(dist, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if c.kind == artifact.KindSourceMap {
			// sentry-cli rewrites maps as it bundles them: check that it is
			// still esbuild's map of the application's sources.
			var m struct {
				Version        int
				Mappings       string
				Sources        []string
				SourcesContent []string
			}
			if err := json.Unmarshal(a.Body, &m); err != nil || m.Version != 3 || m.Mappings == "" ||
				!strings.Contains(strings.Join(m.Sources, " "), "src/cart.js") || !strings.Contains(strings.Join(m.SourcesContent, ""), "checkout failed") {
				t.Errorf("%s: the stored map is not esbuild's map of the application: %v %.200s", c.file, err, a.Body)
			}
		} else if !bytes.Contains(a.Body, bytes.TrimSpace(bytes.Split(want, []byte("\n//#"))[0])) {
			t.Errorf("%s: the stored file is not esbuild's output", c.file)
		}
		if a.URL != "~/"+c.file || a.Kind != c.kind {
			t.Errorf("%s: url %q kind %q", c.file, a.URL, a.Kind)
		}
		if c.kind == artifact.KindMinifiedSource && !strings.HasSuffix(a.Headers["sourcemap"], "app.min.js.map") {
			t.Errorf("%s: headers %v, want its sourcemap", c.file, a.Headers)
		}
	}
}

// TestSourceMapUpload uploads esbuild's output with the real sentry-cli
// 3.x (artifact bundles, with and without a release) and 2.x (chunked
// release files), and finds the files through the lookups the worker's
// symbolication uses: by debug id and by release and URL.
func TestSourceMapUpload(t *testing.T) {
	lines := cliLines(t)
	f := testserver.Start(t, server.Config{})
	web := f.CreateProject("acme", "web", "javascript")
	other := f.CreateProject("acme", "api", "javascript")
	store := f.Server.Artifacts()
	ctx := context.Background()
	var org struct{ Token string }
	if st, raw := f.Do("POST", "/api/0/organizations/acme/org-auth-tokens/", map[string]string{"name": "ci"}, &org); st != 201 {
		t.Fatalf("org token: %d %s", st, raw)
	}
	for _, l := range lines {
		if !l.modern {
			continue
		}
		t.Run("3.x/debug-id", func(t *testing.T) {
			dist, debugID := buildApp(t, l.bin, true)
			out := runCLI(t, f, l.bin, org.Token, filepath.Dir(dist), "sourcemaps", "upload", "--project", "web", "dist")
			t.Logf("%s", out)
			checkUploaded(t, dist, func(kind, _ string) (*sourcemap.Artifact, error) {
				return store.ByDebugID(ctx, projectID(t, web), debugID, kind)
			})
			// Scoped to the project it was uploaded for.
			if a, err := store.ByDebugID(ctx, projectID(t, other), debugID, artifact.KindSourceMap); err != nil || a != nil {
				t.Errorf("another project finds the map: %v %v", a, err)
			}
		})
		t.Run("3.x/release", func(t *testing.T) {
			dist, debugID := buildApp(t, l.bin, true)
			runCLI(t, f, l.bin, org.Token, filepath.Dir(dist), "sourcemaps", "upload", "--project", "web", "--release", "shop@3.0", "--dist", "b1", "dist")
			checkUploaded(t, dist, func(kind, url string) (*sourcemap.Artifact, error) {
				return store.ByURL(ctx, projectID(t, web), "shop@3.0", "b1", url)
			})
			checkUploaded(t, dist, func(kind, _ string) (*sourcemap.Artifact, error) {
				return store.ByDebugID(ctx, projectID(t, web), debugID, kind)
			})
			if a, err := store.ByURL(ctx, projectID(t, web), "shop@3.0", "", "~/app.min.js"); err != nil || a != nil {
				t.Errorf("found without its dist: %v %v", a, err)
			}
		})
	}
	for _, l := range lines {
		if l.modern {
			continue
		}
		t.Run("2.x/release", func(t *testing.T) {
			dist, _ := buildApp(t, "", false)
			out := runCLI(t, f, l.bin, org.Token, filepath.Dir(dist), "sourcemaps", "upload", "--project", "web", "--release", "shop@2.0", "dist")
			if !strings.Contains(out, "artifact bundle") {
				t.Errorf("2.x did not upload an artifact bundle:\n%s", out)
			}
			checkUploaded(t, dist, func(kind, url string) (*sourcemap.Artifact, error) {
				return store.ByURL(ctx, projectID(t, web), "shop@2.0", "", url)
			})
		})
		t.Run("2.x/release-files", func(t *testing.T) {
			// 2.x's legacy command, listed through the organization's
			// release files route.
			if st, raw := f.Do("POST", "/api/0/organizations/acme/releases/", map[string]any{"version": "shop@2.1", "projects": []string{"web"}}, nil); st != 201 {
				t.Fatalf("release: %d %s", st, raw)
			}
			dist, _ := buildApp(t, "", false)
			runCLI(t, f, l.bin, org.Token, filepath.Dir(dist), "releases", "files", "shop@2.1", "upload-sourcemaps", "--project", "web", "dist")
			checkUploaded(t, dist, func(kind, url string) (*sourcemap.Artifact, error) {
				return store.ByURL(ctx, projectID(t, web), "shop@2.1", "", url)
			})
			out := runCLI(t, f, l.bin, org.Token, filepath.Dir(dist), "releases", "files", "shop@2.1", "list")
			if !strings.Contains(out, "~/app.min.js.map") || !strings.Contains(out, "~/app.min.js") {
				t.Errorf("releases files list:\n%s", out)
			}
		})
	}
}

// apiCall sends a request with a token and returns the status and body.
func apiCall(t *testing.T, f *testserver.Faultline, token, method, path, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// multipartBody builds a form: fields in order, then the file.
func multipartBody(t *testing.T, fields [][2]string, fileField, fileName string, data []byte) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, kv := range fields {
		mw.WriteField(kv[0], kv[1]) //nolint:errcheck
	}
	if fileField != "" {
		w, err := mw.CreateFormFile(fileField, fileName)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data) //nolint:errcheck
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func sha1Hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// uploadBundle uploads data as one chunk per chunk-size piece (gzip'd,
// as sentry-cli does) and asks for its assembly; it returns the state
// once it is final.
func uploadBundle(t *testing.T, f *testserver.Faultline, token string, data []byte) (int, map[string]any) {
	t.Helper()
	return uploadBundleTo(t, f, token, "/api/0/organizations/acme/artifactbundle/assemble/", data)
}

// uploadBundleTo is uploadBundle with the assemble route given.
func uploadBundleTo(t *testing.T, f *testserver.Faultline, token, assemble string, data []byte) (int, map[string]any) {
	t.Helper()
	var chunks []string
	for off := 0; off < len(data); off += artifact.ChunkSize {
		piece := data[off:min(off+artifact.ChunkSize, len(data))]
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(piece) //nolint:errcheck
		zw.Close()
		ct, body := multipartBody(t, nil, "file_gzip", sha1Hex(piece), gz.Bytes())
		if st, raw := apiCall(t, f, token, "POST", "/api/0/organizations/acme/chunk-upload/", ct, body); st != 200 {
			t.Fatalf("chunk upload: %d %s", st, raw)
		}
		chunks = append(chunks, sha1Hex(piece))
	}
	req, _ := json.Marshal(map[string]any{"checksum": sha1Hex(data), "chunks": chunks, "projects": []string{"web"}})
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, raw := apiCall(t, f, token, "POST", assemble, "application/json", bytes.NewReader(req))
		var ans map[string]any
		json.Unmarshal(raw, &ans) //nolint:errcheck
		if st != 200 || ans["state"] == artifact.StateOK || ans["state"] == artifact.StateError || time.Now().After(deadline) {
			return st, ans
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// zipBundle writes a bundle: manifest.json naming files, then the files.
func zipBundle(t *testing.T, files map[string][]byte, manifest string) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString("SYSB\x02\x00\x00\x00")
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("manifest.json")
	w.Write([]byte(manifest)) //nolint:errcheck
	for name, b := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b) //nolint:errcheck
	}
	zw.Close()
	return buf.Bytes()
}

// TestSourceMapUploadLimits covers the legacy release files routes with a
// multipart client, bad bundles (path traversal, a zip bomb), sizes over
// the limits (413) and another organization's token (404).
func TestSourceMapUploadLimits(t *testing.T) {
	f := testserver.Start(t, server.Config{Artifacts: artifact.Config{MaxFileSize: 1 << 20, MaxBundleSize: 12 << 20},
		DeletionDelay: 100 * time.Millisecond, Deletion: deletion.Config{Poll: 50 * time.Millisecond}})
	web := f.CreateProject("acme", "web", "javascript")
	f.CreateProject("other", "site", "javascript")
	token := testserver.AdminToken
	ctx := context.Background()
	if st, raw := f.Do("POST", "/api/0/organizations/acme/releases/", map[string]any{"version": "1.0", "projects": []string{"web"}}, nil); st != 201 {
		t.Fatalf("release: %d %s", st, raw)
	}
	files := "/api/0/projects/acme/web/releases/1.0/files/"

	// The legacy upload, as curl -F sends it.
	min := []byte("function a(){throw new Error('x')}\n//# sourceMappingURL=app.min.js.map\n")
	ct, body := multipartBody(t, [][2]string{{"name", "~/static/app.min.js"}, {"header", "Sourcemap: app.min.js.map"}}, "file", "app.min.js", min)
	st, raw := apiCall(t, f, token, "POST", files, ct, body)
	var up map[string]any
	if st != 201 || json.Unmarshal(raw, &up) != nil {
		t.Fatalf("upload: %d %s", st, raw)
	}
	if up["name"] != "~/static/app.min.js" || up["sha1"] != sha1Hex(min) || up["size"] != float64(len(min)) || up["dist"] != nil ||
		up["id"] == "" || up["dateCreated"] == nil {
		t.Errorf("upload answered %s", raw)
	}
	if h, _ := up["headers"].(map[string]any); h["sourcemap"] != "app.min.js.map" {
		t.Errorf("headers: %s", raw)
	}
	a := waitArtifact(t, "legacy file", func() (*sourcemap.Artifact, error) {
		return artifacts(f).ByURL(ctx, projectID(t, web), "1.0", "", "~/static/app.min.js")
	})
	if !bytes.Equal(a.Body, min) || a.Kind != artifact.KindMinifiedSource {
		t.Errorf("legacy file: kind %q body %q", a.Kind, a.Body)
	}
	// The same name again is a conflict, as in Sentry.
	ct, body = multipartBody(t, [][2]string{{"name", "~/static/app.min.js"}}, "file", "app.min.js", min)
	if st, raw := apiCall(t, f, token, "POST", files, ct, body); st != 409 {
		t.Errorf("duplicate: %d %s", st, raw)
	}
	// Listed at both levels; read; deleted.
	for _, p := range []string{files, "/api/0/organizations/acme/releases/1.0/files/"} {
		var list []map[string]any
		if st, raw := f.Do("GET", p, nil, &list); st != 200 || len(list) != 1 || list[0]["id"] != up["id"] {
			t.Errorf("list %s: %d %s", p, st, raw)
		}
	}
	id := up["id"].(string)
	if st, raw := apiCall(t, f, token, "GET", files+id+"/?download=1", "", nil); st != 200 || !bytes.Equal(raw, min) {
		t.Errorf("download: %d %q", st, raw)
	}
	if st, raw := apiCall(t, f, token, "DELETE", files+id+"/", "", nil); st != 204 {
		t.Errorf("delete: %d %s", st, raw)
	}
	if st, _ := apiCall(t, f, token, "GET", files+id+"/", "", nil); st != 404 {
		t.Errorf("deleted file: %d", st)
	}
	if a, err := artifacts(f).ByURL(ctx, projectID(t, web), "1.0", "", "~/static/app.min.js"); err != nil || a != nil {
		t.Errorf("deleted file still found: %v %v", a, err)
	}
	// A legacy minified file with sentry-cli's debug id comment is found
	// by it too.
	injected := []byte("function b(){}\n//# debugId=2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f\n")
	ct, body = multipartBody(t, [][2]string{{"name", "~/static/b.min.js"}, {"dist", "d1"}}, "file", "b.min.js", injected)
	if st, raw := apiCall(t, f, token, "POST", files, ct, body); st != 201 || !strings.Contains(string(raw), `"dist":"d1"`) {
		t.Fatalf("upload with a debug id: %d %s", st, raw)
	}
	if a, err := artifacts(f).ByDebugID(ctx, projectID(t, web), "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", artifact.KindMinifiedSource); err != nil || a == nil {
		t.Errorf("legacy file by its debug id: %v %v", a, err)
	}
	if a, err := artifacts(f).ByURL(ctx, projectID(t, web), "1.0", "d1", "~/static/b.min.js"); err != nil || a == nil {
		t.Errorf("legacy file by its dist and URL: %v %v", a, err)
	}
	var bid map[string]any
	for _, fl := range listFiles(t, f, files) {
		if fl["name"] == "~/static/b.min.js" {
			bid = fl
		}
	}
	if bid == nil {
		t.Fatal("the file with a dist is not listed")
	}
	if st, raw := apiCall(t, f, token, "DELETE", files+bid["id"].(string)+"/", "", nil); st != 204 {
		t.Fatalf("delete: %d %s", st, raw)
	}
	// An unknown release is 404.
	ct, body = multipartBody(t, [][2]string{{"name", "~/x.js"}}, "file", "x.js", min)
	if st, raw := apiCall(t, f, token, "POST", "/api/0/projects/acme/web/releases/9.9/files/", ct, body); st != 404 {
		t.Errorf("unknown release: %d %s", st, raw)
	}

	// Over the file size limit: 413 with a detail that says so.
	ct, body = multipartBody(t, [][2]string{{"name", "~/big.js"}}, "file", "big.js", bytes.Repeat([]byte("a"), 1<<20+1))
	st, raw = apiCall(t, f, token, "POST", files, ct, body)
	if st != 413 || !strings.Contains(string(raw), "limit") {
		t.Errorf("oversize file: %d %s", st, raw)
	}
	// A bundle over the bundle limit: 413 at assembly.
	big := make([]byte, 13<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if st, ans := uploadBundle(t, f, token, big); st != 413 {
		t.Errorf("oversize bundle: %d %v", st, ans)
	}

	// Bad bundles are refused with a detail.
	okManifest := `{"files":{"_/_/app.min.js":{"type":"minified_source","url":"~/app.min.js","headers":{"debug-id":"7b8a1f4e-3c2d-4e5f-8a9b-0c1d2e3f4a5b"}}},"attributes":{"org":"acme"}}`
	bomb := bytes.Repeat([]byte{0}, 8<<20) // deflates to a few KiB, inflates over the 1 MiB file limit
	cases := []struct {
		name   string
		bundle []byte
		detail string
	}{
		{"traversal", zipBundle(t, map[string][]byte{"files/_/_/app.min.js": min, "../evil.js": min}, okManifest), "unsafe path"},
		{"traversal in manifest", zipBundle(t, map[string][]byte{"files/../x": min},
			`{"files":{"../x":{"type":"source","url":"~/x"}}}`), "unsafe path"},
		{"absolute", zipBundle(t, map[string][]byte{"/etc/passwd": min}, okManifest), "unsafe path"},
		{"zip bomb", zipBundle(t, map[string][]byte{"files/_/_/app.min.js": bomb}, okManifest), "larger than the limit"},
		{"bad manifest", zipBundle(t, map[string][]byte{"files/_/_/app.min.js": min}, `{"files": [1,2]`), "manifest"},
		{"missing file", zipBundle(t, nil, okManifest), "not in the archive"},
		{"not a zip", []byte("SYSB\x02\x00\x00\x00garbage"), "not a ZIP"},
	}
	for _, c := range cases {
		st, ans := uploadBundle(t, f, token, c.bundle)
		detail, _ := ans["detail"].(string)
		if st != 200 || ans["state"] != artifact.StateError || !strings.Contains(detail, c.detail) {
			t.Errorf("%s: %d %v, want error %q", c.name, st, ans, c.detail)
		}
	}
	// A good one, for contrast, is found by its debug id.
	if st, ans := uploadBundle(t, f, token, zipBundle(t, map[string][]byte{"files/_/_/app.min.js": min}, okManifest)); st != 200 || ans["state"] != artifact.StateOK {
		t.Fatalf("good bundle: %d %v", st, ans)
	}
	if a, err := artifacts(f).ByDebugID(ctx, projectID(t, web), "7B8A1F4E3C2D4E5F8A9B0C1D2E3F4A5B", artifact.KindMinifiedSource); err != nil || a == nil || !bytes.Equal(a.Body, min) {
		t.Errorf("good bundle by debug id: %v %v", a, err)
	}

	// On the release's path (sentry-cli 2.x without artifact bundles), the
	// bundle's files become the release's files.
	relManifest := `{"files":{"_/_/rel.min.js":{"type":"minified_source","url":"~/rel.min.js"}}}`
	if st, ans := uploadBundleTo(t, f, token, "/api/0/organizations/acme/releases/1.0/assemble/",
		zipBundle(t, map[string][]byte{"files/_/_/rel.min.js": min}, relManifest)); st != 200 || ans["state"] != artifact.StateOK {
		t.Fatalf("release assemble: %d %v", st, ans)
	}
	var list []map[string]any
	if st, raw := f.Do("GET", files, nil, &list); st != 200 || len(list) != 1 || list[0]["name"] != "~/rel.min.js" {
		t.Errorf("the release's files after its assemble: %d %s", st, raw)
	}
	if a, err := artifacts(f).ByURL(ctx, projectID(t, web), "1.0", "", "~/rel.min.js"); err != nil || a == nil {
		t.Errorf("the release's assembled file: %v %v", a, err)
	}

	// An assemble that names another organization's project is refused.
	req := `{"checksum":"` + sha1Hex(min) + `","chunks":[],"projects":["site"]}`
	if st, raw := apiCall(t, f, token, "POST", "/api/0/organizations/acme/artifactbundle/assemble/", "application/json", strings.NewReader(req)); st != 400 {
		t.Errorf("another organization's project: %d %s", st, raw)
	}

	// Another organization's token sees none of acme's upload routes.
	var otherCI struct{ Token string }
	if st, raw := f.Do("POST", "/api/0/organizations/other/org-auth-tokens/", map[string]string{"name": "ci"}, &otherCI); st != 201 {
		t.Fatalf("other's token: %d %s", st, raw)
	}
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/0/organizations/acme/chunk-upload/"},
		{"POST", "/api/0/organizations/acme/artifactbundle/assemble/"},
		{"GET", files},
		{"POST", "/api/0/organizations/acme/releases/1.0/assemble/"},
	} {
		if st, raw := apiCall(t, f, otherCI.Token, r.method, r.path, "application/json", strings.NewReader(`{}`)); st != 404 {
			t.Errorf("other's token: %s %s: %d %s", r.method, r.path, st, raw)
		}
	}
	// Its own organization's options advertise what is served.
	var opts map[string]any
	st, raw = apiCall(t, f, otherCI.Token, "GET", "/api/0/organizations/other/chunk-upload/", "", nil)
	if st != 200 || json.Unmarshal(raw, &opts) != nil {
		t.Fatalf("options: %d %s", st, raw)
	}
	if opts["url"] != f.URL+"/api/0/organizations/other/chunk-upload/" || opts["hashAlgorithm"] != "sha1" ||
		fmt.Sprint(opts["accept"]) != "[release_files artifact_bundles artifact_bundles_v2]" || opts["chunkSize"] != float64(artifact.ChunkSize) {
		t.Errorf("options: %s", raw)
	}

	// Deleting the project purges its artifacts (the deletion job).
	o, _ := f.Server.Meta().Organization("acme")
	if used, err := artifacts(f).Usage(ctx, o.ID); err != nil || used == 0 {
		t.Fatalf("acme's usage before the deletion: %d %v", used, err)
	}
	if st, raw := f.Do("DELETE", "/api/0/projects/acme/web/", nil, nil); st != 204 {
		t.Fatalf("delete the project: %d %s", st, raw)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		used, err := artifacts(f).Usage(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if used == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("acme still keeps %d bytes of artifacts after its project's deletion", used)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if a, err := artifacts(f).ByDebugID(ctx, projectID(t, web), "7b8a1f4e3c2d4e5f8a9b0c1d2e3f4a5b", artifact.KindMinifiedSource); err != nil || a != nil {
		t.Errorf("a deleted project's file: %v %v", a, err)
	}
}

func artifacts(f *testserver.Faultline) *artifact.Store { return f.Server.Artifacts() }

func listFiles(t *testing.T, f *testserver.Faultline, path string) []map[string]any {
	t.Helper()
	var list []map[string]any
	if st, raw := f.Do("GET", path, nil, &list); st != 200 {
		t.Fatalf("list %s: %d %s", path, st, raw)
	}
	return list
}
