package web

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestHighlightEscapes checks that chroma's HTML formatter escapes what it
// highlights, for every lexer the page may choose: its output is marked
// template.HTML, so markup in a context line must come out as text.
func TestHighlightEscapes(t *testing.T) {
	payloads := []string{
		`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`, `<svg onload=alert(1)>`,
		`x = "</span><script>alert(1)</script>"`, `# <!-- --> ]]> &amp; &lt;`, `'` + "`${alert(1)}`" + `'`,
	}
	for _, c := range []struct{ file, platform, want string }{
		{"app/views.py", "", "Python"}, {"main.go", "", "Go"}, {"src/app.js", "", "JavaScript"},
		{"https://cdn.example.com/app.min.js?v=1", "", "JavaScript"}, {"lib/x.rb", "", "Ruby"},
		{"index.php", "", "PHP"}, {"Foo.java", "", "Java"}, {"page.html", "", "HTML"}, {"", "python", "Python"},
		{"noext", "node", "JavaScript"}, {"C:\\app\\main.cs", "", "C#"},
	} {
		l := frameLexer(c.file, c.platform)
		if l == nil || l.Config().Name != c.want {
			name := "nil"
			if l != nil {
				name = l.Config().Name
			}
			t.Errorf("lexer of %q/%q: %s, want %s", c.file, c.platform, name, c.want)
			continue
		}
		out := highlightLines(l, payloads)
		if len(out) != len(payloads) {
			t.Fatalf("%s: %d lines for %d", c.want, len(out), len(payloads))
		}
		for i, h := range out {
			s := string(h)
			// Only chroma's spans are markup: strip them and what is left
			// must be the escaped text, and unescaped it must be the line.
			text := regexp.MustCompile(`<span class="hl-[a-z0-9]+">|</span>`).ReplaceAllString(s, "")
			if strings.ContainsAny(text, "<>\"") {
				t.Errorf("%s: line %d not escaped: %s", c.want, i, s)
			}
			if got := htmlUnescape(text); got != payloads[i] {
				t.Errorf("%s: line %d is %q, want %q", c.want, i, got, payloads[i])
			}
			if strings.Contains(s, "style=") {
				t.Errorf("%s: inline style: %s", c.want, s)
			}
		}
	}
	if frameLexer("README", "") != nil {
		t.Error("a file with no known type or platform got a lexer")
	}
	// A line with a newline in it, or too much text, is shown unhighlighted.
	if highlightLines(frameLexer("a.py", ""), []string{"a\nb"}) != nil {
		t.Error("a line with a newline was highlighted")
	}
	if highlightLines(frameLexer("a.py", ""), []string{strings.Repeat("x", maxHighlightLine+1)}) != nil {
		t.Error("an oversized context was highlighted")
	}
}

func htmlUnescape(s string) string {
	r := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&amp;", "&")
	return r.Replace(s)
}

func TestSyntaxStylesheetIsAHashedAsset(t *testing.T) {
	ui, tab := newTable(t)
	h := ui.hashed["syntax.css"]
	w := get(t, tab, "/static/"+h)
	if h == "" || w.Code != 200 || !strings.Contains(w.Body.String(), ".hl-chroma .hl-k") ||
		!strings.Contains(w.Body.String(), "prefers-color-scheme: dark") {
		t.Fatalf("syntax.css (%s): %d %.200s", h, w.Code, w.Body)
	}
}

func TestSafeHref(t *testing.T) {
	for u, want := range map[string]string{
		"https://example.com/a?b=c":    "https://example.com/a?b=c",
		"http://example.com":           "http://example.com",
		"javascript:alert(1)":          "",
		"JAVASCRIPT:alert(1)":          "",
		"data:text/html,<script>":      "",
		"//evil.example.com/":          "",
		"/relative":                    "",
		"vbscript:x":                   "",
		" https://example.com":         "",
		"https:///nohost":              "",
		"http://exa mple.com/<script>": "",
	} {
		if got := safeHref(u); got != want {
			t.Errorf("safeHref(%q) = %q, want %q", u, got, want)
		}
	}
}

func TestIssueActionBody(t *testing.T) {
	for _, c := range []struct {
		form url.Values
		want string // JSON, "" for refused
	}{
		{url.Values{"action": {"resolve"}}, `{"status":"resolved"}`},
		{url.Values{"action": {"resolveInNextRelease"}}, `{"status":"resolved","statusDetails":{"inNextRelease":true}}`},
		{url.Values{"action": {"unresolve"}}, `{"status":"unresolved"}`},
		{url.Values{"action": {"ignore"}, "ignoreDuration": {""}}, `{"status":"ignored","statusDetails":{}}`},
		{url.Values{"action": {"ignore"}, "ignoreDuration": {"120"}}, `{"status":"ignored","statusDetails":{"ignoreDuration":120}}`},
		{url.Values{"action": {"ignore"}, "ignoreCount": {"100"}}, `{"status":"ignored","statusDetails":{"ignoreCount":100}}`},
		{url.Values{"action": {"ignore"}, "ignoreUserCount": {"5"}}, `{"status":"ignored","statusDetails":{"ignoreUserCount":5}}`},
		{url.Values{"action": {"ignore"}, "ignoreCount": {"-1"}}, ""},
		{url.Values{"action": {"ignore"}, "ignoreDuration": {"x"}}, ""},
		{url.Values{"action": {"delete"}}, ""},
		{url.Values{}, ""},
	} {
		body, ok := issueActionBody(c.form)
		got := ""
		if ok {
			b, _ := json.Marshal(body)
			got = string(b)
		}
		if got != c.want {
			t.Errorf("%v: %s, want %s", c.form, got, c.want)
		}
	}
}

// TestFrameOrder: newest frame first, except for Python (oldest first, as
// its tracebacks read); library frames collapsed in the app view, all open
// in the full view; when no frame is the app's, the crashing one is open.
func TestFrameOrder(t *testing.T) {
	x := apiException{Type: "E", Stacktrace: &apiStacktrace{Frames: []apiFrame{
		{Filename: "lib.go", Function: "lib"}, {Filename: "app.go", Function: "app", InApp: true}, {Filename: "crash.go", Function: "crash"},
	}}}
	names := func(ev exceptionView) (s []string) {
		for _, f := range ev.Frames {
			o := "-"
			if f.Open {
				o = "+"
			}
			s = append(s, o+f.Function)
		}
		return s
	}
	for _, c := range []struct {
		platform, view string
		newest         bool
		want           string
	}{
		{"go", "app", true, "-crash +app -lib"},
		{"python", "app", false, "-lib +app -crash"},
		{"go", "full", true, "+crash +app +lib"},
	} {
		if got := strings.Join(names(buildException(x, c.platform, c.view, c.newest, new(int))), " "); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.platform, c.view, got, c.want)
		}
	}
	x.Stacktrace.Frames[1].InApp = false
	if got := strings.Join(names(buildException(x, "go", "app", true, new(int))), " "); got != "+crash -app -lib" {
		t.Errorf("no in-app frame: %s", got)
	}
}

// TestIssuePageTemplate renders a page from API JSON full of markup: it is
// all text, and the page passes the CSP (no inline style or script).
func TestIssuePageTemplate(t *testing.T) {
	ui, _ := newTable(t)
	const x = `<script>alert(1)</script>{{.}}`
	var is issueJSON
	var ev apiEvent
	json.Unmarshal([]byte(`{"id":"7","shortId":"WEB-7","title":"`+jsonEsc(x)+`","culprit":"c","level":"error","status":"unresolved",
		"project":{"slug":"web"},"count":"4","userCount":1,"firstSeen":"2026-01-01T00:00:00Z","lastSeen":"2026-01-02T00:00:00Z",
		"stats":{"24h":[[1767225600,1],[1767229200,3]]},"firstRelease":{"version":"`+jsonEsc(x)+`"},
		"activity":[{"type":"set_resolved","data":{"x":"`+jsonEsc(x)+`"},"dateCreated":"2026-01-02T00:00:00Z","user":{"name":"`+jsonEsc(x)+`"}}]}`), &is)
	json.Unmarshal([]byte(`{"eventID":"e1","dateCreated":"2026-01-01T01:10:00.000Z","platform":"javascript",
		"tags":[{"key":"`+jsonEsc(x)+`","value":"`+jsonEsc(x)+`"}],
		"entries":[{"type":"request","data":{"url":"https://example.com/`+jsonEsc(x)+`","method":"GET"}}],
		"previousEventID":"e0","nextEventID":null,"userReport":{"name":"n","email":"e","comments":"`+jsonEsc(x)+`"}}`), &ev)
	tags := []apiTagKey{{Key: x, TotalValues: 4, TopValues: []apiTagValue{{Value: x, Count: 3}}}}
	page := buildIssuePage("acme", &is, &ev, tags, nil, []apiAttachment{{ID: "1", Name: x, Size: 3}}, issueOptions{}, "tok")
	w := httptest.NewRecorder()
	ui.render(w, httptest.NewRequest("GET", "/", nil), 200, "issue", page)
	body := w.Body.String()
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, body)
	}
	if strings.Contains(body, "<script>alert") || strings.Contains(body, "style=") || strings.Contains(body, "<style") {
		t.Errorf("markup from data, or an inline style:\n%s", body)
	}
	for _, want := range []string{
		`<h1><span class="level level-error">error</span> &lt;script&gt;alert(1)&lt;/script&gt;{{.}}</h1>`,
		`<a href="https://example.com/%3Cscript%3Ealert%281%29%3C/script%3E%7B%7B.%7D%7D" rel="noopener noreferrer nofollow">`,
		`<span class="dist-value">&lt;script&gt;alert(1)&lt;/script&gt;{{.}}</span> <span class="pct">75%</span>`,
		`<rect x="240" y="2" width="238" height="58" class="current">`,
		`<a href="/organizations/acme/issues/7/events/e0/" rel="nofollow">Older</a>`,
		`<span class="off">Newer</span>`,
		`<input type="hidden" name="csrfmiddlewaretoken" value="tok">`,
		`href="/api/0/projects/acme/web/events/e1/attachments/1/?download=1"`,
		`<blockquote>&lt;script&gt;alert(1)&lt;/script&gt;{{.}}</blockquote>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s", want)
		}
	}
	// The template's own data stays out of the title element's markup.
	if !strings.Contains(body, "<title>WEB-7 · &lt;script&gt;") {
		t.Errorf("title not escaped")
	}
}

func jsonEsc(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// FuzzHighlight: whatever the context lines, chroma's output for each is
// its text, escaped, inside spans with classes only.
func FuzzHighlight(f *testing.F) {
	f.Add("app.py", "python", `raise ValueError("<script>")`, "# </span>")
	f.Add("main.go", "go", "x := `<svg onload=alert(1)>`", "}")
	f.Add("a.js", "", "document.write('<img src=x onerror=alert(1)>')", "/* --> */")
	spans := regexp.MustCompile(`<span class="hl-[a-z0-9]+">|</span>`)
	f.Fuzz(func(t *testing.T, file, platform, a, b string) {
		lines := []string{a, b}
		out := highlightLines(frameLexer(file, platform), lines)
		for i, h := range out {
			text := spans.ReplaceAllString(string(h), "")
			if strings.ContainsAny(text, "<>\"") {
				t.Fatalf("line %d not escaped: %q", i, h)
			}
			if got := htmlUnescape(text); got != lines[i] && strings.ToValidUTF8(lines[i], "\uFFFD") == lines[i] {
				t.Fatalf("line %d is %q, want %q", i, got, lines[i])
			}
		}
	})
}

// FuzzIssueActionBody: a status form's body is one of the statuses, with
// only positive numbers in its details.
func FuzzIssueActionBody(f *testing.F) {
	f.Add("action=ignore&ignoreCount=5")
	f.Add("action=resolve")
	f.Add("action=ignore&ignoreDuration=-1&ignoreUserCount=1e9")
	f.Fuzz(func(t *testing.T, q string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		body, ok := issueActionBody(v)
		if !ok {
			return
		}
		switch body["status"] {
		case "resolved", "unresolved", "ignored":
		default:
			t.Fatalf("status %v", body["status"])
		}
		if d, _ := body["statusDetails"].(map[string]any); d != nil {
			for k, n := range d {
				if i, isInt := n.(int); isInt && i <= 0 {
					t.Fatalf("%s = %d", k, i)
				}
			}
		}
	})
}

// TestHighlightBudget: a page highlights at most maxHighlightFrames
// frames, the open ones; the rest show their lines as plain text.
func TestHighlightBudget(t *testing.T) {
	n := func(b []byte) *int64 { v := int64(len(b)); return &v }
	var frames []apiFrame
	for i := range 40 {
		ln := n(make([]byte, i+1))
		frames = append(frames, apiFrame{Filename: "a.py", Function: "f", InApp: i%2 == 0, LineNo: ln,
			Context: [][2]json.RawMessage{{json.RawMessage(strconv.FormatInt(*ln, 10)), json.RawMessage(`"return 1"`)}}})
	}
	budget := maxHighlightFrames
	ev := buildException(apiException{Stacktrace: &apiStacktrace{Frames: frames}}, "python", "app", false, &budget)
	lit, plain := 0, 0
	for _, f := range ev.Frames {
		if f.Lines[0].HTML != "" {
			lit++
			if !f.Open {
				t.Error("a collapsed frame was highlighted")
			}
		} else if f.Lines[0].Text == "return 1" {
			plain++
		}
	}
	if lit != 20 || plain != 20 || budget != 4 {
		t.Errorf("%d highlighted, %d plain, budget left %d", lit, plain, budget)
	}
	budget = maxHighlightFrames
	ev = buildException(apiException{Stacktrace: &apiStacktrace{Frames: frames}}, "python", "full", false, &budget)
	lit = 0
	for _, f := range ev.Frames {
		if f.Lines[0].HTML != "" {
			lit++
		}
	}
	if lit != maxHighlightFrames || budget != 0 {
		t.Errorf("full view: %d highlighted, budget left %d", lit, budget)
	}
}

// TestMinifiedView: an exception whose frames source maps changed offers
// the minified frames (rawStacktrace) as its own view, and the raw
// traceback is the minified one; without rawStacktrace there is no such
// view.
func TestMinifiedView(t *testing.T) {
	var is issueJSON
	json.Unmarshal([]byte(`{"id":"7","project":{"slug":"web"}}`), &is) //nolint:errcheck
	const entry = `{"type":"exception","data":{"values":[{"type":"TypeError","value":"x",
		"stacktrace":{"frames":[{"filename":"/src/cart.js","function":"priceOf","lineNo":9,"colNo":11,"inApp":true}]}%s}]}}`
	var ev apiEvent
	json.Unmarshal([]byte(`{"eventID":"e1","platform":"javascript","entries":[`+fmt.Sprintf(entry,
		`,"rawStacktrace":{"frames":[{"filename":"/static/app.min.js","function":"Xp","lineNo":1,"colNo":31574,"inApp":true}]}`)+`]}`), &ev) //nolint:errcheck
	for _, c := range []struct{ view, frame string }{{"app", "priceOf"}, {"full", "priceOf"}, {"minified", "Xp"}} {
		p := buildIssuePage("acme", &is, &ev, nil, nil, nil, issueOptions{View: c.view}, "tok")
		if f := p.Event.Exceptions[0].Frames[0]; f.Function != c.frame {
			t.Errorf("view %s shows %s, want %s", c.view, f.Function, c.frame)
		}
		if views := p.Event.Views; len(views) != 4 || views[3].Text != "Minified" {
			t.Errorf("views %+v", views)
		}
		if want := `File "/static/app.min.js", line 1, column 31574, in Xp`; !strings.Contains(p.Event.Raw, want) {
			t.Errorf("raw traceback %q lacks %q", p.Event.Raw, want)
		}
	}
	var plain apiEvent
	json.Unmarshal([]byte(`{"eventID":"e1","platform":"javascript","entries":[`+fmt.Sprintf(entry, "")+`]}`), &plain) //nolint:errcheck
	p := buildIssuePage("acme", &is, &plain, nil, nil, nil, issueOptions{View: "minified"}, "tok")
	if len(p.Event.Views) != 3 || p.Event.View != "full" || p.Event.Exceptions[0].Frames[0].Function != "priceOf" {
		t.Errorf("without rawStacktrace: view %s, views %+v", p.Event.View, p.Event.Views)
	}
}
