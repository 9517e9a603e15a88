package airbrake

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	gojson "github.com/goccy/go-json"

	"github.com/faultline/faultline/internal/event"
)

// maxXMLElements bounds the elements of a v2 notice, so that a megabyte of
// "<a/>" cannot cost hundreds of megabytes of tree.
const maxXMLElements = 100_000

// node is one XML element.
type node struct {
	name     string
	attrs    map[string]string
	text     strings.Builder
	children []*node
}

func (n *node) child(name string) *node {
	if n == nil {
		return nil
	}
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (n *node) value(path ...string) string {
	for _, p := range path {
		n = n.child(p)
	}
	if n == nil {
		return ""
	}
	return strings.TrimSpace(n.text.String())
}

// parseTree reads an XML document into a tree, bounded in depth and size.
// encoding/xml neither loads external entities nor expands entities a DTD
// declares, so the only costs to bound are the ones counted here.
func parseTree(b []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var stack []*node
	var root *node
	count := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, invalid("%v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if count++; count > maxXMLElements {
				return nil, invalid("more than %d XML elements", maxXMLElements)
			}
			if len(stack) >= MaxDepth {
				return nil, invalid("XML nested deeper than %d", MaxDepth)
			}
			n := &node{name: t.Name.Local}
			for _, a := range t.Attr {
				if n.attrs == nil {
					n.attrs = map[string]string{}
				}
				n.attrs[a.Name.Local] = a.Value
			}
			switch {
			case len(stack) > 0:
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			case root == nil:
				root = n
			default:
				return nil, invalid("more than one root element")
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		}
	}
	if root == nil {
		return nil, invalid("no XML element")
	}
	return root, nil
}

// ParseNoticeXML parses a v2 XML notice (the Hoptoad/Airbrake notifier API
// 2.x that /notifier_api/v2/notices receives). The project key is in the
// body: Notice.APIKey.
func ParseNoticeXML(b []byte) (*Notice, error) {
	if len(b) > MaxNoticeSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), MaxNoticeSize)
	}
	root, err := parseTree(b)
	if err != nil {
		return nil, err
	}
	if root.name != "notice" {
		return nil, invalid("the root element is <%s>, want <notice>", root.name)
	}
	errEl := root.child("error")
	if errEl == nil {
		return nil, invalid("the notice has no <error>")
	}
	n := &Notice{APIKey: root.value("api-key"), Version: root.attrs["version"], Context: map[string]event.Raw{}}
	e := Error{Type: errEl.value("class"), Message: errEl.value("message")}
	// The Ruby notifiers prefixed the message with the class name.
	if e.Type != "" {
		e.Message = strings.TrimPrefix(e.Message, e.Type+": ")
	}
	if bt := errEl.child("backtrace"); bt != nil {
		for _, l := range bt.children {
			if l.name != "line" {
				continue
			}
			f := Frame{File: l.attrs["file"], Function: l.attrs["method"]}
			if v, err := strconv.ParseInt(strings.TrimSpace(l.attrs["number"]), 10, 64); err == nil && v > 0 {
				f.Line = v
			}
			if f.File != "" || f.Function != "" {
				e.Backtrace = append(e.Backtrace, f)
			}
		}
	}
	n.Errors = []Error{e}

	ctx := n.Context
	setText := func(key, v string) {
		if v != "" {
			ctx[key] = jsonRaw(v)
		}
	}
	if nf := root.child("notifier"); nf != nil {
		ctx["notifier"] = jsonRaw(map[string]string{"name": nf.value("name"), "version": nf.value("version"), "url": nf.value("url")})
	}
	setText("framework", root.value("framework"))
	env := root.child("server-environment")
	setText("environment", env.value("environment-name"))
	setText("version", env.value("app-version"))
	setText("rootDirectory", env.value("project-root"))
	setText("hostname", env.value("hostname"))
	req := root.child("request")
	setText("url", req.value("url"))
	setText("component", req.value("component"))
	setText("action", req.value("action"))
	user := root.child("current-user")
	if user == nil {
		user = root.child("user-attributes")
	}
	if user != nil {
		u := map[string]string{}
		for _, k := range []string{"id", "name", "email", "username"} {
			if v := user.value(k); v != "" {
				u[k] = v
			}
		}
		if len(u) > 0 {
			ctx["user"] = jsonRaw(u)
		}
	}
	if req != nil {
		n.Params = vars(req.child("params"))
		n.Session = vars(req.child("session"))
		n.Environment = vars(req.child("cgi-data"))
	}
	return n, nil
}

// vars converts a v2 <var key="..."> list, nested or not, to a JSON object.
func vars(n *node) event.Raw {
	if n == nil || len(n.children) == 0 {
		return nil
	}
	return jsonRaw(varMap(n))
}

func varMap(n *node) map[string]any {
	m := map[string]any{}
	for _, c := range n.children {
		if c.name != "var" {
			continue
		}
		k := c.attrs["key"]
		if len(c.children) > 0 {
			m[k] = varMap(c)
		} else {
			m[k] = strings.TrimSpace(c.text.String())
		}
	}
	return m
}

// jsonRaw encodes v; it is only called with strings and maps, which
// always encode (with sorted keys).
func jsonRaw(v any) event.Raw {
	b, _ := gojson.Marshal(v)
	return b
}
