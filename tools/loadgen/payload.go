package main

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Payloads are Sentry envelopes shaped like what @sentry/node sends (see
// e2e/clients/captures/sentry-node): an event with an exception, a stack
// trace with source context, breadcrumbs, contexts, tags, user and SDK
// info. Each request gets a fresh event id in the envelope header; the
// header is its own gzip member in front of a pre-compressed body, so a
// unique id costs microseconds, not a full compression.

// shape is an event size class.
type shape struct {
	name        string
	frames      int
	breadcrumbs int
}

var shapes = map[string]shape{
	"typical": {"typical", 10, 1}, // ~4 KB JSON, what real SDK events average
	"large":   {"large", 25, 20},  // ~11 KB JSON, a deep Node error
	"deep":    {"deep", 50, 30},   // ~20 KB JSON
	"small":   {"small", 3, 0},    // ~2 KB
}

var words = strings.Fields(`request handler checkout cart payment order invoice user session token cache
	database query timeout retry connection socket stream buffer parse config render template route
	middleware queue worker job schedule upload image resize thumbnail email notify webhook callback`)

func pick(r *rand.Rand, n int) string {
	var b []string
	for i := 0; i < n; i++ {
		b = append(b, words[r.IntN(len(words))])
	}
	return strings.Join(b, " ")
}

func camel(r *rand.Rand) string {
	a, b := words[r.IntN(len(words))], words[r.IntN(len(words))]
	return a + strings.ToUpper(b[:1]) + b[1:]
}

// eventBody builds one event of shape s for error template t (t picks the
// issue: same t, same stack and type).
func eventBody(s shape, t int) []byte {
	r := rand.New(rand.NewPCG(uint64(t), 42))
	frames := make([]map[string]any, 0, s.frames)
	for i := 0; i < s.frames; i++ {
		inApp := i >= s.frames*2/3
		file := fmt.Sprintf("/srv/app/node_modules/%s/lib/%s.js", words[r.IntN(len(words))], words[r.IntN(len(words))])
		if inApp {
			file = fmt.Sprintf("/srv/app/src/%s/%s.js", words[r.IntN(len(words))], camel(r))
		}
		f := map[string]any{
			"filename": file, "module": strings.TrimSuffix(file[strings.LastIndex(file, "/")+1:], ".js"),
			"function": camel(r), "lineno": 10 + r.IntN(400), "colno": 1 + r.IntN(60), "in_app": inApp,
		}
		if inApp {
			f["pre_context"] = []string{"  const " + camel(r) + " = await " + camel(r) + "(req);", "  if (!" + camel(r) + ") {",
				"    log.debug('" + pick(r, 4) + "');"}
			f["context_line"] = "  throw new Error(`" + pick(r, 5) + " ${" + camel(r) + ".id}`);"
			f["post_context"] = []string{"}", "export async function " + camel(r) + "(ctx) {"}
		}
		frames = append(frames, f)
	}
	crumbs := make([]map[string]any, 0, s.breadcrumbs)
	for i := 0; i < s.breadcrumbs; i++ {
		crumbs = append(crumbs, map[string]any{
			"timestamp": 1795734478.611 + float64(i), "category": []string{"http", "console", "query", "navigation"}[i%4],
			"message": pick(r, 8), "level": "info",
			"data": map[string]any{"url": "https://api.example.com/v1/" + words[r.IntN(len(words))], "method": "GET", "status_code": 200},
		})
	}
	types := []string{"TypeError", "RangeError", "Error", "PaymentError", "TimeoutError", "ValidationError"}
	ev := map[string]any{
		"exception": map[string]any{"values": []any{map[string]any{
			"type": types[t%len(types)], "value": pick(r, 6) + fmt.Sprintf(" #%d", t),
			"stacktrace": map[string]any{"frames": frames},
			"mechanism":  map[string]any{"type": "generic", "handled": true},
		}}},
		"level": "error", "platform": "node", "server_name": "web-" + fmt.Sprint(t%7),
		"timestamp": float64(time.Now().UnixMilli()) / 1000, "environment": "production", "release": "shop@4.12.0",
		"contexts": map[string]any{
			"runtime": map[string]any{"name": "node", "version": "v20.20.2"},
			"os":      map[string]any{"kernel_version": "6.1.0-18-amd64", "name": "Debian", "version": "12"},
			"device":  map[string]any{"arch": "x64", "memory_size": 25276063744, "processor_count": 2, "cpu_description": "AMD EPYC"},
			"trace":   map[string]any{"trace_id": hex.EncodeToString([]byte(pick(r, 2))[:8]) + "00000000", "span_id": "9f0fac7983c3e528"},
		},
		"sdk": map[string]any{"name": "sentry.javascript.node", "version": "11.12.0",
			"integrations": []string{"EventFilters", "FunctionToString", "LinkedErrors", "RequestData", "Console", "Http", "NodeFetch", "OnUncaughtException", "OnUnhandledRejection", "ContextLines", "Context", "Modules"}},
		"tags":        map[string]any{"feature": words[t%len(words)], "region": "eu-west-1"},
		"user":        map[string]any{"id": fmt.Sprintf("user-%d", t*7%500), "email": fmt.Sprintf("user%d@example.com", t*7%500)},
		"breadcrumbs": crumbs,
		"request":     map[string]any{"url": "https://shop.example.com/api/" + words[t%len(words)], "method": "POST", "headers": map[string]string{"user-agent": "Mozilla/5.0", "accept": "application/json"}},
	}
	b, _ := json.Marshal(ev)
	return b
}

// generator produces gzip'd envelopes with unique event ids.
type generator struct {
	bodies [][]byte // gzip member: "\n{type:event}\n" + event JSON
	rawLen int      // average uncompressed envelope size
	pool   sync.Pool
}

func newGenerator(s shape, templates int) *generator {
	g := &generator{pool: sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}}
	total := 0
	for t := 0; t < templates; t++ {
		body := eventBody(s, t)
		rest := append([]byte("\n{\"type\":\"event\"}\n"), body...)
		total += len(rest) + 80
		g.bodies = append(g.bodies, gz(rest))
	}
	g.rawLen = total / templates
	return g
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// next returns one envelope: a gzip member with the header (a fresh event
// id) followed by a template's pre-compressed body member.
func (g *generator) next(r *rand.Rand) []byte {
	var id [16]byte
	for i := 0; i < 16; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			id[i+j] = byte(v >> (8 * j))
		}
	}
	var buf bytes.Buffer
	w := g.pool.Get().(*gzip.Writer)
	w.Reset(&buf)
	fmt.Fprintf(w, `{"event_id":"%s","sent_at":"%s"}`, hex.EncodeToString(id[:]), time.Now().UTC().Format(time.RFC3339))
	w.Close()
	g.pool.Put(w)
	buf.Write(g.bodies[r.IntN(len(g.bodies))])
	return buf.Bytes()
}

func (g *generator) compressedLen() int {
	n := 0
	for _, b := range g.bodies {
		n += len(b)
	}
	return n/len(g.bodies) + 70
}
