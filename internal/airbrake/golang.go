package airbrake

import (
	"path"
	"strings"
)

// Go frames. gobrake sends each frame's absolute file and its function name
// without the package ("TestX.func1", "(*T).M"); sentry-go sends the
// package as the frame's module, and Sentry's grouping hashes the module,
// not the file. For an error to group the same whichever of the two
// reported it, a gobrake frame needs its package back. The notice carries
// what it takes to recover it:
//
//   - the Go root: a stack reaches the standard library (testing.tRunner,
//     net/http's server, runtime.main), whose files are GOROOT/src/<pkg>/;
//   - the module cache: GOMODCACHE/<module>@<version>/<dir>/file.go names
//     its module and directory;
//   - the main module: context.component is the package of the first
//     non-runtime frame (gobrake sets it so). Matching that package's
//     import path against its directory from the right gives the module
//     root directory and the module path, and every other directory of the
//     main module maps to an import path by prefix.
//
// In-app follows sentry-go too: every frame outside GOROOT and outside
// vendor and third_party directories is the application's.

// goLayout is where a notice's Go code lives.
type goLayout struct {
	goroot   string // "" when no standard library frame showed it
	firstDir string // directory of the package context.component names
	firstPkg string
	testPkg  bool   // firstPkg is an external test package (x_test)
	modRoot  string // main module directory; "" when unknown
	modPath  string // import path of modRoot ("" for a GOPATH-style root)
}

// stdTop are the top-level directories of GOROOT/src: the standard
// library's packages, its vendored packages and the toolchain.
var stdTop = map[string]bool{
	"archive": true, "bufio": true, "builtin": true, "bytes": true, "cmd": true, "cmp": true, "compress": true,
	"container": true, "context": true, "crypto": true, "database": true, "debug": true, "embed": true,
	"encoding": true, "errors": true, "expvar": true, "flag": true, "fmt": true, "go": true, "hash": true,
	"html": true, "image": true, "index": true, "internal": true, "io": true, "iter": true, "log": true,
	"maps": true, "math": true, "mime": true, "net": true, "os": true, "path": true, "plugin": true,
	"reflect": true, "regexp": true, "runtime": true, "slices": true, "sort": true, "strconv": true,
	"strings": true, "structs": true, "sync": true, "syscall": true, "testing": true, "text": true,
	"time": true, "unicode": true, "unique": true, "unsafe": true, "vendor": true, "weak": true,
}

func newGoLayout(frames []Frame, component string) *goLayout {
	l := &goLayout{}
	component = strings.TrimSpace(component)
	if component != "" && !strings.ContainsAny(component, " \t\\") {
		// gobrake's component is the package of the first frame outside
		// package runtime.
		for _, f := range frames {
			file := goFile(f.File)
			if !strings.HasPrefix(file, "/") {
				continue
			}
			if dir := path.Dir(file); !strings.HasSuffix(dir, "/src/runtime") {
				l.firstDir, l.firstPkg = dir, component
				break
			}
		}
	}
	if l.firstDir != "" {
		dsegs := strings.Split(strings.TrimPrefix(l.firstDir, "/"), "/")
		psegs := strings.Split(component, "/")
		if last := psegs[len(psegs)-1]; last == dsegs[len(dsegs)-1]+"_test" {
			l.testPkg = true
			psegs[len(psegs)-1] = strings.TrimSuffix(last, "_test")
		}
		k := 0
		for k < len(psegs) && k < len(dsegs) && psegs[len(psegs)-1-k] == dsegs[len(dsegs)-1-k] {
			k++
		}
		// The longest match wins. Where the module's directory bears the
		// module path's last element ("/src/shop" for example.com/shop),
		// the root found is one level up; the module's own files map the
		// same either way. A match of the whole directory says nothing
		// about its parents.
		if k > 0 && k < len(dsegs) {
			l.modRoot = "/" + strings.Join(dsegs[:len(dsegs)-k], "/")
			l.modPath = strings.Join(psegs[:len(psegs)-k], "/")
		}
	}
	// GOROOT is the directory above src/ of a standard library file.
	for _, f := range frames {
		file := goFile(f.File)
		if l.inMainModule(path.Dir(file)) || strings.Contains(file, "/pkg/mod/") || strings.HasPrefix(file, "/GOPATH/") {
			continue
		}
		i := strings.LastIndex(file, "/src/")
		if i <= 0 {
			continue
		}
		top, _, ok := strings.Cut(file[i+len("/src/"):], "/")
		if ok && stdTop[top] {
			l.goroot = file[:i]
			break
		}
	}
	return l
}

func (l *goLayout) inMainModule(dir string) bool {
	return dir == l.firstDir || (l.modRoot != "" && (dir == l.modRoot || strings.HasPrefix(dir, l.modRoot+"/")))
}

// goFile is a frame's file with forward slashes.
func goFile(f string) string { return strings.ReplaceAll(f, `\`, "/") }

// module returns the import path of the package whose file this is, or ""
// when the notice does not tell.
func (l *goLayout) module(file string) string {
	file = goFile(file)
	dir := path.Dir(file)
	switch {
	case l.goroot != "" && strings.HasPrefix(dir, l.goroot+"/src/"):
		return strings.TrimPrefix(dir, l.goroot+"/src/")
	case strings.Contains(file, "/pkg/mod/"):
		return modCachePackage(file[strings.Index(file, "/pkg/mod/")+len("/pkg/mod/"):])
	case strings.HasPrefix(file, "/GOPATH/"):
		return strings.TrimPrefix(dir, "/GOPATH/")
	case l.firstDir != "" && dir == l.firstDir:
		if l.testPkg && !strings.HasSuffix(file, "_test.go") {
			return strings.TrimSuffix(l.firstPkg, "_test")
		}
		return l.firstPkg
	case l.modRoot != "" && l.inMainModule(dir):
		rel := strings.TrimPrefix(strings.TrimPrefix(dir, l.modRoot), "/")
		switch {
		case l.modPath == "":
			return rel
		case rel == "":
			return l.modPath
		}
		return l.modPath + "/" + rel
	}
	return ""
}

// inApp is sentry-go's rule: not in GOROOT, not vendored.
func (l *goLayout) inApp(file, module string) bool {
	file = goFile(file)
	if l.goroot != "" && strings.HasPrefix(file, l.goroot+"/") {
		return false
	}
	where := module
	if where == "" {
		where = file
	}
	return !strings.Contains(where, "vendor") && !strings.Contains(where, "third_party")
}

// modCachePackage turns "github.com/!burnt!sushi/toml@v1.3.2/internal/x.go"
// into "github.com/BurntSushi/toml/internal".
func modCachePackage(rel string) string {
	at := strings.Index(rel, "@")
	if at <= 0 {
		return ""
	}
	mod := unescapeModule(rel[:at])
	rest := rel[at:]
	slash := strings.Index(rest, "/")
	if slash < 0 {
		return mod
	}
	dir := path.Dir(rest[slash+1:])
	if dir == "." {
		return mod
	}
	return mod + "/" + dir
}

// unescapeModule undoes the module cache's case encoding ("!a" is "A").
func unescapeModule(s string) string {
	if !strings.Contains(s, "!") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '!' && i+1 < len(s) && s[i+1] >= 'a' && s[i+1] <= 'z' {
			b.WriteByte(s[i+1] - 'a' + 'A')
			i++
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
