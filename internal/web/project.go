package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/faultline/faultline/internal/meta"
)

// apiProject is the part of Sentry's project JSON the pages show.
type apiProject struct {
	ID             flexID                      `json:"id"`
	Slug           string                      `json:"slug"`
	Name           string                      `json:"name"`
	Platform       *string                     `json:"platform"`
	Status         string                      `json:"status"`
	RetentionDays  int                         `json:"retentionDays"`
	AllowedDomains []string                    `json:"allowedDomains"`
	DataScrubber   bool                        `json:"dataScrubber"`
	ScrubDefaults  bool                        `json:"dataScrubberDefaults"`
	Sensitive      []string                    `json:"sensitiveFields"`
	Safe           []string                    `json:"safeFields"`
	ScrubIP        bool                        `json:"scrubIPAddresses"`
	RateLimits     map[string]apiCategoryLimit `json:"rateLimits"`
	Spike          struct {
		Enabled     bool    `json:"enabled"`
		Multiplier  float64 `json:"multiplier"`
		Floor       float64 `json:"floor"`
		Active      bool    `json:"active"`
		ActiveSince *string `json:"activeSince"`
	} `json:"spikeProtection"`
	Teams []teamRef `json:"teams"`
}

type apiCategoryLimit struct {
	PerMinute int64 `json:"perMinute"`
	PerHour   int64 `json:"perHour"`
}

// apiKey is Sentry's client key JSON.
type apiKey struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Public    string `json:"public"`
	IsActive  bool   `json:"isActive"`
	ProjectID int64  `json:"projectId"`
	RateLimit *struct {
		Window int `json:"window"`
		Count  int `json:"count"`
	} `json:"rateLimit"`
	DSN struct {
		Public   string `json:"public"`
		Store    string `json:"store"`
		Security string `json:"security"`
	} `json:"dsn"`
	DateCreated string `json:"dateCreated"`
}

// projectPage is the data of project.html.
type projectPage struct {
	Nav      navData
	Project  apiProject
	Platform string
	// Key is the first active key ("": none) and its DSN.
	Key            *apiKey
	Snippets       []snippet
	Curl           string
	Issues         uint64 // unresolved issues
	Pending        bool   // the project is pending deletion
	Settings, List string
	Notice, Error  string
}

func (p *projectPage) navData() *navData { return &p.Nav }

// snippet is a setup snippet of one platform, with the real DSN.
type snippet struct {
	ID, Label, Install, Code string
	Open                     bool
}

// projectAPI is the API path of a project.
func projectAPI(org, project string) string {
	return "/api/0/projects/" + url.PathEscape(org) + "/" + url.PathEscape(project) + "/"
}

// projectPage is /organizations/{org}/projects/{project}/: the DSN with
// copy buttons, setup snippets, the test-event button and its curl
// equivalent; with no events yet it says so first.
func (ui *UI) projectPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	nav, err := ui.orgNav(ctx, r, "projects")
	if err != nil {
		ui.fail(w, r, err)
		return
	}
	page := &projectPage{Nav: nav, Notice: notice(r)}
	if r.URL.Query().Get("error") == "ingest" {
		page.Error = "The test event could not be sent: this server does not run ingest, or refused the event (see its log)."
	}
	base := projectAPI(nav.Org.Slug, r.PathValue("project"))
	if _, err := ui.callAPI(ctx, r, "GET", base, nil, &page.Project); err != nil {
		ui.fail(w, r, err)
		return
	}
	page.Settings = projectSettingsHref(nav.Org.Slug, page.Project.Slug)
	page.List = "/organizations/" + url.PathEscape(nav.Org.Slug) + "/issues/?project=" + url.QueryEscape(string(page.Project.ID))
	if page.Project.Status == meta.StatusPendingDeletion {
		// Its keys and issues are gone from the API: say why, and where
		// to cancel.
		page.Pending = true
		ui.render(w, r, http.StatusOK, "project", page)
		return
	}
	var keys []apiKey
	if _, err := ui.callAPI(ctx, r, "GET", base+"keys/", nil, &keys); err != nil {
		ui.fail(w, r, err)
		return
	}
	for i := range keys {
		if keys[i].IsActive {
			page.Key = &keys[i]
			break
		}
	}
	var counts map[string]uint64
	q := url.Values{"query": {"is:unresolved"}, "project": {string(page.Project.ID)}}
	if _, err := ui.callAPI(ctx, r, "GET", "/api/0/organizations/"+url.PathEscape(nav.Org.Slug)+"/issues-count/?"+q.Encode(), nil, &counts); err != nil {
		ui.fail(w, r, err)
		return
	}
	page.Issues = counts["is:unresolved"]
	if page.Project.Platform != nil {
		page.Platform = *page.Project.Platform
	}
	if page.Key != nil {
		page.Snippets = snippets(page.Key.DSN.Public, page.Platform)
		page.Curl = curlCommand(page.Key)
	}
	ui.render(w, r, http.StatusOK, "project", page)
}

// snippets are the setup snippets, the project's platform open first.
func snippets(dsn, platform string) []snippet {
	q := strconv.Quote(dsn)
	sq := "'" + dsn + "'" // DSNs hold no quote
	all := []snippet{
		{ID: "go", Label: "Go", Install: "go get github.com/getsentry/sentry-go",
			Code: "err := sentry.Init(sentry.ClientOptions{\n\tDsn: " + q + ",\n})\nif err != nil {\n\tlog.Fatalf(\"sentry.Init: %s\", err)\n}\ndefer sentry.Flush(2 * time.Second)\n\nsentry.CaptureException(errors.New(\"my first Faultline error\"))"},
		{ID: "node", Label: "JavaScript (Node.js)", Install: "npm install @sentry/node",
			Code: "const Sentry = require(\"@sentry/node\");\n\nSentry.init({\n  dsn: " + q + ",\n});\n\nSentry.captureException(new Error(\"my first Faultline error\"));"},
		{ID: "javascript", Label: "JavaScript (browser)", Install: "npm install @sentry/browser",
			Code: "import * as Sentry from \"@sentry/browser\";\n\nSentry.init({\n  dsn: " + q + ",\n});\n\nSentry.captureException(new Error(\"my first Faultline error\"));"},
		{ID: "python", Label: "Python", Install: "pip install sentry-sdk",
			Code: "import sentry_sdk\n\nsentry_sdk.init(dsn=" + q + ")\n\ntry:\n    1 / 0\nexcept ZeroDivisionError as e:\n    sentry_sdk.capture_exception(e)"},
		{ID: "ruby", Label: "Ruby", Install: "gem install sentry-ruby",
			Code: "require \"sentry-ruby\"\n\nSentry.init do |config|\n  config.dsn = " + sq + "\nend\n\nSentry.capture_message(\"my first Faultline error\")"},
		{ID: "php", Label: "PHP", Install: "composer require sentry/sentry",
			Code: "<?php\nrequire 'vendor/autoload.php';\n\n\\Sentry\\init(['dsn' => " + sq + "]);\n\n\\Sentry\\captureException(new Exception('my first Faultline error'));"},
		{ID: "java", Label: "Java", Install: "implementation 'io.sentry:sentry:7.+'   // Gradle",
			Code: "import io.sentry.Sentry;\n\nSentry.init(options -> {\n  options.setDsn(" + q + ");\n});\n\ntry {\n  throw new Exception(\"my first Faultline error\");\n} catch (Exception e) {\n  Sentry.captureException(e);\n}"},
	}
	open := 0
	for i, s := range all {
		if s.ID == platform || platform == "node-express" && s.ID == "node" {
			open = i
		}
	}
	all[open].Open = true
	return all
}

// curlCommand is the curl equivalent of the test-event button: the store
// endpoint with the key in Sentry's auth header.
func curlCommand(k *apiKey) string {
	return fmt.Sprintf("curl -X POST '%s' \\\n  -H 'Content-Type: application/json' \\\n"+
		"  -H 'X-Sentry-Auth: Sentry sentry_version=7, sentry_client=curl/1.0, sentry_key=%s' \\\n"+
		"  -d '{\"message\": \"Hello from curl\", \"level\": \"error\", \"platform\": \"other\"}'",
		k.DSN.Store, strings.ReplaceAll(k.Public, "'", ""))
}
