// Package eventgen generates realistic error events for benchmarks and load
// tests: the JSON a Sentry SDK sends (Node, Python and Go shapes, with
// stack traces, context lines, breadcrumbs, request data, contexts and
// tags), spread over issues the way production traffic is: a few issues
// take most events, most issues have a handful.
//
// It is deterministic for a seed, and fast (a few µs per event), so that
// loading a million events is bounded by the store, not by generation.
// The variety is deliberate: identical events would compress far better
// than real traffic and flatter any disk figure.
package eventgen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// Config shapes a generated load.
type Config struct {
	Seed     uint64
	Issues   int           // distinct issues (default 10,000)
	Users    int           // distinct users (default 50,000)
	Releases int           // distinct releases (default 20)
	Span     time.Duration // events are spread over this much time before End (default 14 days)
	End      time.Time     // default now
	// Skew is the Zipf exponent of events per issue (default 1.1).
	Skew float64
}

// Event is one generated event: the JSON an SDK would send, and the fields
// a processed event carries, so that a benchmark can store it without
// running the whole pipeline.
type Event struct {
	JSON        []byte
	EventID     string
	Issue       int // 0-based issue number
	Timestamp   time.Time
	Platform    string
	Level       string
	Environment string
	Release     string
	Title       string
	Culprit     string
	Message     string
	ExcType     string
	ExcValue    string
	Transaction string
	UserID      string
	UserEmail   string
	UserName    string
	IPAddress   string
	SDKName     string
	SDKVersion  string
	TagKeys     []string
	TagValues   []string
}

// Generator produces events. It is not safe for concurrent use; use one
// per goroutine with different seeds.
type Generator struct {
	cfg    Config
	rnd    *rand.Rand
	zipf   *rand.Zipf
	issues []issue
	n      int
	buf    []byte
}

type frame struct {
	file, function, module string
	line, col              int
	inApp                  bool
	context                [11]string // 5 before, the line, 5 after
}

type issue struct {
	platform, excType, msgFmt, transaction, logger string
	frames                                         []frame
	handled                                        bool
	level                                          string
}

// New returns a generator.
func New(cfg Config) *Generator {
	if cfg.Issues <= 0 {
		cfg.Issues = 10_000
	}
	if cfg.Users <= 0 {
		cfg.Users = 50_000
	}
	if cfg.Releases <= 0 {
		cfg.Releases = 20
	}
	if cfg.Span <= 0 {
		cfg.Span = 14 * 24 * time.Hour
	}
	if cfg.End.IsZero() {
		cfg.End = time.Now()
	}
	if cfg.Skew <= 1 {
		cfg.Skew = 1.1
	}
	rnd := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	g := &Generator{cfg: cfg, rnd: rnd, zipf: rand.NewZipf(rnd, cfg.Skew, 1, uint64(cfg.Issues-1))}
	g.issues = make([]issue, cfg.Issues)
	for i := range g.issues {
		g.issues[i] = g.newIssue()
	}
	return g
}

// Next returns the next event. The first Issues events visit every issue
// once, so that every issue exists; later ones follow the skew.
func (g *Generator) Next() Event {
	var n int
	if g.n < len(g.issues) {
		n = g.n
	} else {
		n = int(g.zipf.Uint64())
	}
	g.n++
	return g.event(n)
}

var (
	excTypes = map[string][]string{
		"node":   {"TypeError", "ReferenceError", "RangeError", "Error", "SyntaxError", "FetchError", "SequelizeDatabaseError", "AxiosError"},
		"python": {"KeyError", "ValueError", "AttributeError", "TypeError", "IntegrityError", "ConnectionError", "TimeoutError", "ZeroDivisionError"},
		"go":     {"*errors.errorString", "*fmt.wrapError", "*net.OpError", "*url.Error", "*json.SyntaxError", "*pq.Error"},
	}
	msgFmts = []string{
		"Cannot read properties of undefined (reading '%s')",
		"connection to %s timed out after %d ms",
		"invalid input syntax for type uuid: \"%s\"",
		"'%s' object has no attribute 'id' (request %d)",
		"duplicate key value violates unique constraint \"%s_pkey\" (id=%d)",
		"dial tcp 10.0.%s: connect: connection refused (attempt %d)",
		"unexpected token in %s at position %d",
		"order %s not found for customer %d",
		"rate limit exceeded for key %s, retry in %d s",
		"%s is not a function (line %d)",
	}
	words     = []string{"user", "order", "invoice", "session", "cart", "payment", "account", "profile", "report", "token", "config", "queue", "worker", "cache", "search", "export", "upload", "billing", "email", "webhook"}
	verbs     = []string{"get", "load", "fetch", "handle", "process", "create", "update", "delete", "validate", "render", "parse", "send", "sync", "resolve", "compute"}
	libs      = map[string][]string{"node": {"node_modules/express/lib/router/layer.js", "node_modules/express/lib/router/index.js", "node:internal/process/task_queues", "node_modules/pg/lib/client.js", "node_modules/axios/lib/core/Axios.js"}, "python": {"django/core/handlers/base.py", "django/core/handlers/exception.py", "rest_framework/views.py", "sqlalchemy/engine/base.py", "celery/app/trace.py"}, "go": {"net/http/server.go", "runtime/proc.go", "database/sql/sql.go", "github.com/go-chi/chi/v5/mux.go"}}
	envs      = []string{"production", "production", "production", "production", "production", "production", "production", "production", "staging", "development"}
	levels    = []string{"error", "error", "error", "error", "error", "error", "warning", "fatal"}
	browsers  = []string{"Chrome 120.0.0", "Chrome 121.0.0", "Firefox 121.0", "Safari 17.2", "Edge 120.0.0", "Chrome Mobile 120.0.0", "Mobile Safari 17.1"}
	oses      = []string{"Windows 10", "Mac OS X 10.15.7", "Linux", "iOS 17.2", "Android 14", "Ubuntu 22.04"}
	runtimes  = map[string][]string{"node": {"node v20.10.0", "node v18.19.0"}, "python": {"CPython 3.11.7", "CPython 3.12.1"}, "go": {"go go1.21.5", "go go1.22.0"}}
	sdks      = map[string][2]string{"node": {"sentry.javascript.node", "7.91.0"}, "python": {"sentry.python", "1.39.1"}, "go": {"sentry.go", "0.26.0"}}
	codeLines = []string{
		"const result = await db.query(sql, params);", "if (!user) throw new NotFoundError('user');", "return res.status(200).json(payload);",
		"for (const item of items) {", "  total += item.price * item.quantity;", "}", "const { id, email } = req.body;",
		"logger.info('processing', { id });", "await queue.publish(topic, message);", "const cfg = loadConfig(process.env);",
		"    user = User.objects.get(pk=user_id)", "    return Response(serializer.data)", "    if not form.is_valid():",
		"        raise ValidationError(form.errors)", "    session.commit()", "    data = json.loads(request.body)",
		"\tif err != nil {", "\t\treturn nil, fmt.Errorf(\"load %s: %w\", id, err)", "\t}", "\trows, err := db.QueryContext(ctx, q, id)",
		"\tdefer rows.Close()", "\tresp, err := client.Do(req)", "\tvar out Order", "\tif err := json.NewDecoder(r.Body).Decode(&out); err != nil {",
	}
	crumbCats = []string{"http", "navigation", "console", "query", "ui.click", "redis"}
)

func (g *Generator) pick(list []string) string { return list[g.rnd.IntN(len(list))] }

func (g *Generator) newIssue() issue {
	platforms := []string{"node", "node", "node", "node", "python", "python", "python", "go", "go", "go"}
	p := g.pick(platforms)
	is := issue{platform: p, excType: g.pick(excTypes[p]), msgFmt: g.pick(msgFmts), handled: g.rnd.IntN(3) > 0,
		level: g.pick(levels), logger: g.pick(words) + "." + g.pick(verbs)}
	is.transaction = "/api/" + g.pick(words) + "s/:id/" + g.pick(verbs)
	if p == "python" {
		is.transaction = g.pick(words) + "s.views." + g.pick(verbs) + "_" + g.pick(words)
	}
	depth := 8 + g.rnd.IntN(18)
	for i := 0; i < depth; i++ {
		f := frame{line: 10 + g.rnd.IntN(900), col: 1 + g.rnd.IntN(80)}
		f.inApp = i >= depth/3 // outermost frames are library code
		if f.inApp {
			mod := g.pick(words)
			switch p {
			case "node":
				f.file = "/app/src/" + mod + "s/" + g.pick(words) + "." + g.pick([]string{"service", "controller", "model", "util"}) + ".js"
			case "python":
				f.file = "app/" + mod + "s/" + g.pick([]string{"views", "models", "services", "tasks"}) + ".py"
			default:
				f.file = "/src/internal/" + mod + "/" + g.pick(words) + ".go"
			}
			f.module = mod
		} else {
			f.file = g.pick(libs[p])
		}
		f.function = g.pick(verbs) + capitalize(g.pick(words))
		if p == "go" {
			f.function = capitalize(f.function)
		}
		for k := range f.context {
			f.context[k] = g.pick(codeLines)
		}
		is.frames = append(is.frames, f)
	}
	return is
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

func (g *Generator) event(n int) Event {
	is := &g.issues[n]
	r := g.rnd
	ts := g.cfg.End.Add(-time.Duration(r.Int64N(int64(g.cfg.Span)))).UTC().Truncate(time.Millisecond)
	id := fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
	u := r.IntN(g.cfg.Users)
	user := "user-" + strconv.Itoa(u)
	email := user + "@" + g.pick([]string{"example.com", "acme.io", "mail.test"})
	ip := fmt.Sprintf("10.%d.%d.%d", u>>16&255, u>>8&255, u&255)
	release := fmt.Sprintf("backend@%d.%d.%d", 1+g.cfg.Releases/10, (n+r.IntN(3))%g.cfg.Releases, r.IntN(4))
	env := g.pick(envs)
	var value string
	switch r.IntN(3) {
	case 0:
		value = fmt.Sprintf(is.msgFmt, g.pick(words), r.IntN(100000))
	case 1:
		value = fmt.Sprintf(is.msgFmt, fmt.Sprintf("%08x-%04x", r.Uint32(), r.IntN(65536)), r.IntN(5000))
	default:
		value = fmt.Sprintf(is.msgFmt, g.pick(words)+"_"+g.pick(words), 1+r.IntN(30))
	}
	value = trimFormatNoise(value)
	browser, osName := g.pick(browsers), g.pick(oses)
	sdk := sdks[is.platform]
	ev := Event{EventID: id, Issue: n, Timestamp: ts, Platform: is.platform, Level: is.level, Environment: env,
		Release: release, ExcType: is.excType, ExcValue: value, Message: value, Transaction: is.transaction,
		UserID: user, UserEmail: email, UserName: "User " + strconv.Itoa(u), IPAddress: ip, SDKName: sdk[0], SDKVersion: sdk[1]}
	ev.Title = is.excType + ": " + value
	if len(ev.Title) > 200 {
		ev.Title = ev.Title[:200]
	}
	top := is.frames[len(is.frames)-1]
	ev.Culprit = is.transaction
	if ev.Culprit == "" {
		ev.Culprit = top.function + "(" + top.module + ")"
	}
	server := fmt.Sprintf("web-%d", r.IntN(12))
	url := fmt.Sprintf("https://app.example.com%s?page=%d", replaceID(is.transaction, r.IntN(1_000_000)), r.IntN(20))
	ev.TagKeys = []string{"browser", "environment", "handled", "level", "os", "release", "runtime", "server_name", "transaction", "url", "user"}
	ev.TagValues = []string{browser, env, strconv.FormatBool(is.handled), is.level, osName, release, g.pick(runtimes[is.platform]),
		server, is.transaction, url, "id:" + user}

	b := g.buf[:0]
	b = append(b, `{"event_id":`...)
	b = appendStr(b, id)
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendFloat(b, float64(ts.UnixMilli())/1000, 'f', 3, 64)
	b = append(b, `,"platform":`...)
	b = appendStr(b, map[string]string{"node": "node", "python": "python", "go": "go"}[is.platform])
	b = append(b, `,"level":`...)
	b = appendStr(b, is.level)
	b = append(b, `,"logger":`...)
	b = appendStr(b, is.logger)
	b = append(b, `,"server_name":`...)
	b = appendStr(b, server)
	b = append(b, `,"release":`...)
	b = appendStr(b, release)
	b = append(b, `,"environment":`...)
	b = appendStr(b, env)
	b = append(b, `,"transaction":`...)
	b = appendStr(b, is.transaction)
	b = append(b, `,"sdk":{"name":`...)
	b = appendStr(b, sdk[0])
	b = append(b, `,"version":`...)
	b = appendStr(b, sdk[1])
	b = append(b, `,"integrations":["InboundFilters","FunctionToString","Console","Http","OnUncaughtException","OnUnhandledRejection","ContextLines","LocalVariables","RequestData"]}`...)
	b = append(b, `,"user":{"id":`...)
	b = appendStr(b, user)
	b = append(b, `,"email":`...)
	b = appendStr(b, email)
	b = append(b, `,"ip_address":`...)
	b = appendStr(b, ip)
	b = append(b, `},"tags":{"handled":`...)
	b = appendStr(b, strconv.FormatBool(is.handled))
	b = append(b, `,"feature":`...)
	b = appendStr(b, g.pick(words))
	b = append(b, `},"exception":{"values":[{"type":`...)
	b = appendStr(b, is.excType)
	b = append(b, `,"value":`...)
	b = appendStr(b, value)
	b = append(b, `,"mechanism":{"type":`...)
	b = appendStr(b, map[bool]string{true: "generic", false: "onuncaughtexception"}[is.handled])
	b = append(b, `,"handled":`...)
	b = strconv.AppendBool(b, is.handled)
	b = append(b, `},"stacktrace":{"frames":[`...)
	for i, f := range is.frames {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"filename":`...)
		b = appendStr(b, f.file)
		b = append(b, `,"abs_path":`...)
		b = appendStr(b, f.file)
		b = append(b, `,"function":`...)
		b = appendStr(b, f.function)
		if f.module != "" {
			b = append(b, `,"module":`...)
			b = appendStr(b, f.module)
		}
		b = append(b, `,"lineno":`...)
		b = strconv.AppendInt(b, int64(f.line), 10)
		b = append(b, `,"colno":`...)
		b = strconv.AppendInt(b, int64(f.col), 10)
		b = append(b, `,"in_app":`...)
		b = strconv.AppendBool(b, f.inApp)
		if f.inApp {
			b = append(b, `,"pre_context":[`...)
			for k := 0; k < 5; k++ {
				if k > 0 {
					b = append(b, ',')
				}
				b = appendStr(b, f.context[k])
			}
			b = append(b, `],"context_line":`...)
			b = appendStr(b, f.context[5])
			b = append(b, `,"post_context":[`...)
			for k := 6; k < 11; k++ {
				if k > 6 {
					b = append(b, ',')
				}
				b = appendStr(b, f.context[k])
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `]}}]},"breadcrumbs":{"values":[`...)
	crumbs := r.IntN(25)
	for i := 0; i < crumbs; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		at := ts.Add(-time.Duration(crumbs-i) * time.Duration(50+r.IntN(4000)) * time.Millisecond)
		b = append(b, `{"timestamp":`...)
		b = strconv.AppendFloat(b, float64(at.UnixMilli())/1000, 'f', 3, 64)
		cat := g.pick(crumbCats)
		b = append(b, `,"category":`...)
		b = appendStr(b, cat)
		switch cat {
		case "http":
			b = append(b, `,"type":"http","data":{"method":`...)
			b = appendStr(b, g.pick([]string{"GET", "POST", "PUT"}))
			b = append(b, `,"url":`...)
			b = appendStr(b, fmt.Sprintf("https://api.internal/%ss/%d", g.pick(words), r.IntN(100000)))
			b = append(b, `,"status_code":`...)
			b = strconv.AppendInt(b, int64([]int{200, 200, 200, 201, 204, 404, 500}[r.IntN(7)]), 10)
			b = append(b, '}')
		case "query":
			b = append(b, `,"message":`...)
			b = appendStr(b, fmt.Sprintf("SELECT * FROM %ss WHERE id = $1 AND tenant_id = %d", g.pick(words), r.IntN(500)))
		default:
			b = append(b, `,"message":`...)
			b = appendStr(b, fmt.Sprintf("%s %s %d", g.pick(verbs), g.pick(words), r.IntN(10000)))
		}
		b = append(b, `,"level":"info"}`...)
	}
	b = append(b, `]},"request":{"method":`...)
	b = appendStr(b, g.pick([]string{"GET", "POST", "PUT", "DELETE"}))
	b = append(b, `,"url":`...)
	b = appendStr(b, url)
	b = append(b, `,"headers":{"Accept":"application/json","Accept-Language":"en-US,en;q=0.9","User-Agent":`...)
	b = appendStr(b, "Mozilla/5.0 ("+osName+") "+browser)
	b = append(b, `,"X-Request-Id":`...)
	b = appendStr(b, fmt.Sprintf("%016x", r.Uint64()))
	b = append(b, `}},"contexts":{"os":{"name":`...)
	b = appendStr(b, osName)
	b = append(b, `},"browser":{"name":`...)
	b = appendStr(b, browser)
	b = append(b, `},"runtime":{"name":`...)
	b = appendStr(b, g.pick(runtimes[is.platform]))
	b = append(b, `},"trace":{"trace_id":`...)
	b = appendStr(b, fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64()))
	b = append(b, `,"span_id":`...)
	b = appendStr(b, fmt.Sprintf("%016x", r.Uint64()))
	b = append(b, `,"op":"http.server"}},"extra":{"request_id":`...)
	b = appendStr(b, fmt.Sprintf("%08x", r.Uint32()))
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(r.IntN(4)), 10)
	b = append(b, `}}`...)
	g.buf = b
	ev.JSON = append([]byte(nil), b...)
	return ev
}

// appendStr appends s as a JSON string.
func appendStr(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, fmt.Sprintf(`\u%04x`, c)...)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func replaceID(route string, id int) string {
	out := []byte{}
	for i := 0; i < len(route); i++ {
		if route[i] == ':' && i+2 < len(route) && route[i+1] == 'i' && route[i+2] == 'd' {
			out = strconv.AppendInt(out, int64(id), 10)
			i += 2
			continue
		}
		out = append(out, route[i])
	}
	return string(out)
}

// trimFormatNoise removes fmt's "%!(EXTRA ...)" when a template takes
// fewer arguments than given.
func trimFormatNoise(s string) string {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '%' && s[i+1] == '!' {
			return s[:i]
		}
	}
	return s
}
