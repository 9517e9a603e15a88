// Package web is Faultline's server-rendered web UI. As in miniflux, each
// page or action has a file of its own; templates are html/template files
// embedded in the binary and all parsed when the process starts (a broken
// template fails the start, not a page); assets are embedded and served at
// content-hashed URLs with long caching. Every answer carries a strict
// Content-Security-Policy: no inline scripts or styles, no framing.
//
// This file is the base the pages build on: templates, assets, security
// headers, and the 404 and 500 pages the route table falls back on.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/faultline/faultline/internal/route"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ContentSecurityPolicy is sent with every page: scripts, styles and
// images from this origin only, nothing inline, no framing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Config configures the UI.
type Config struct {
	// Templates and Static replace the embedded files (tests).
	Templates fs.FS
	Static    fs.FS
}

// Validate fills defaults.
func (c *Config) Validate() error {
	if c.Templates == nil {
		sub, err := fs.Sub(templateFS, "templates")
		if err != nil {
			return err
		}
		c.Templates = sub
	}
	if c.Static == nil {
		sub, err := fs.Sub(staticFS, "static")
		if err != nil {
			return err
		}
		c.Static = sub
	}
	return nil
}

// UI is the web UI.
type UI struct {
	cfg   Config
	log   *slog.Logger
	pages map[string]*template.Template // by page file name, without .html
	// assets are the static files by their hashed name (app.3f2a9c1b.css),
	// and hashed maps a file's name to that.
	assets map[string]asset
	hashed map[string]string
	// acc serves the login, logout and setup pages (nil: none).
	acc *Accounts
	// links resolves GitLab's issue links (nil: no such route).
	links IssueLinks
	// api serves /api/0/, which pages call in process (apicall.go).
	api http.Handler
}

type asset struct {
	contentType string
	body        []byte
}

// New parses every template and hashes every asset; an error here stops
// the process from starting.
func New(cfg Config, log *slog.Logger) (*UI, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	ui := &UI{cfg: cfg, log: log, pages: map[string]*template.Template{}, assets: map[string]asset{}, hashed: map[string]string{}}
	if err := ui.loadAssets(); err != nil {
		return nil, err
	}
	if err := ui.loadSyntaxCSS(); err != nil {
		return nil, err
	}
	if err := ui.parseTemplates(); err != nil {
		return nil, err
	}
	return ui, nil
}

func (ui *UI) loadAssets() error {
	return fs.WalkDir(ui.cfg.Static, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(ui.cfg.Static, name)
		if err != nil {
			return err
		}
		ui.addAsset(name, b)
		return nil
	})
}

// addAsset serves b at name's content-hashed URL.
func (ui *UI) addAsset(name string, b []byte) {
	sum := sha256.Sum256(b)
	ext := path.Ext(name)
	h := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:5]) + ext
	ct := mime.TypeByExtension(ext)
	if ct == "" {
		ct = "application/octet-stream"
	}
	ui.assets[h] = asset{contentType: ct, body: b}
	ui.hashed[name] = h
}

func (ui *UI) parseTemplates() error {
	funcs := template.FuncMap{
		"asset": func(name string) (string, error) {
			h, ok := ui.hashed[name]
			if !ok {
				return "", fmt.Errorf("web: no asset %q", name)
			}
			return "/static/" + h, nil
		},
		"nav": navOf,
	}
	names, err := fs.Glob(ui.cfg.Templates, "*.html")
	if err != nil {
		return err
	}
	for _, name := range names {
		if name == "layout.html" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(ui.cfg.Templates, "layout.html", name)
		if err != nil {
			return fmt.Errorf("web: template %s: %w", name, err)
		}
		if t.Lookup("content") == nil {
			return fmt.Errorf("web: template %s defines no content", name)
		}
		// Render once with no data: an asset or a function that fails
		// fails the start, not a page.
		if err := t.ExecuteTemplate(&bytes.Buffer{}, "layout", nil); err != nil {
			return fmt.Errorf("web: template %s: %w", name, err)
		}
		ui.pages[strings.TrimSuffix(name, ".html")] = t
	}
	for _, want := range []string{"not_found", "error"} {
		if ui.pages[want] == nil {
			return fmt.Errorf("web: template %s.html is missing", want)
		}
	}
	return nil
}

// Routes returns the UI's routes, for the route table.
func (ui *UI) Routes() []route.Route {
	rs := []route.Route{
		{Method: "GET", Path: "/static/{file}", Handler: http.HandlerFunc(ui.static), Auth: route.Public,
			Name: "static assets (content-hashed)"},
	}
	if ui.acc != nil {
		rs = append(rs, ui.accountRoutes()...)
	}
	if ui.links != nil {
		rs = append(rs, ui.issueLinkRoutes()...)
	}
	if ui.api != nil {
		rs = append(rs, ui.releaseRoutes()...)
	}
	if ui.acc != nil && ui.api != nil {
		rs = append(rs, ui.orgRoutes()...)
		rs = append(rs, ui.issueRoutes()...)
		rs = append(rs, ui.settingsRoutes()...)
	}
	return rs
}

// NotFound is the page for what matches no route outside /api/.
func (ui *UI) NotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ui.render(w, r, http.StatusNotFound, "not_found", struct{ Path string }{r.URL.Path})
	})
}

func (ui *UI) static(w http.ResponseWriter, r *http.Request) {
	a, ok := ui.assets[r.PathValue("file")]
	if !ok {
		ui.NotFound().ServeHTTP(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(a.body) //nolint:errcheck
	}
}

// securityHeaders are sent with every page.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// render writes a page. Templates render into a buffer first, so that a
// failing template answers the 500 page, never half a page.
func (ui *UI) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	var buf bytes.Buffer
	t := ui.pages[page]
	err := fmt.Errorf("web: no page %q", page)
	if t != nil {
		err = t.ExecuteTemplate(&buf, "layout", data)
	}
	if err != nil {
		ui.log.Error("rendering a page failed", "page", page, "path", r.URL.Path, "err", err)
		buf.Reset()
		status = http.StatusInternalServerError
		if err := ui.pages["error"].ExecuteTemplate(&buf, "layout", struct{ RequestID string }{}); err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
	}
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes()) //nolint:errcheck
	}
}
