package grouping

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
)

// Component is one node of the grouping tree, as Sentry's GroupingComponent:
// a leaf carries string values, an inner node carries children. Only the
// values of contributing nodes reach the hash, and a node that does not
// contribute says why in Hint.
type Component struct {
	ID          string
	Contributes bool
	Hint        string
	Values      []string
	Children    []*Component
}

// leaf returns a component with values, contributing when it has any.
func leaf(id string, values ...string) *Component {
	if len(values) == 1 && values[0] != "" {
		// Most leaves have one value: the component and its value list in
		// one allocation.
		l := &leafOne{c: Component{ID: id, Contributes: true}, v: [1]string{values[0]}}
		l.c.Values = l.v[:]
		return &l.c
	}
	c := &Component{ID: id}
	for _, v := range values {
		if v != "" {
			c.Values = append(c.Values, v)
		}
	}
	c.Contributes = len(c.Values) > 0
	return c
}

// leafOne is a one-value leaf allocated at once.
type leafOne struct {
	c Component
	v [1]string
}

// node returns a component over children; like Sentry, whether it
// contributes is decided once, from the children as they are now.
func node(id string, children ...*Component) *Component {
	c := &Component{ID: id, Children: children}
	for _, ch := range children {
		if ch != nil && ch.Contributes {
			c.Contributes = true
			break
		}
	}
	return c
}

// ignore marks c as not contributing, with a reason.
func (c *Component) ignore(hint string) {
	c.Contributes = false
	if hint != "" {
		c.Hint = hint
	}
}

// setValues replaces a leaf's values, explaining the change.
func (c *Component) setValues(hint string, values ...string) {
	c.Values = values
	c.Hint = hint
}

// appendValues appends the values that reach the hash, in tree order.
func (c *Component) appendValues(out []string) []string {
	if c == nil || !c.Contributes {
		return out
	}
	out = append(out, c.Values...)
	for _, ch := range c.Children {
		out = ch.appendValues(out)
	}
	return out
}

// find reports whether a contributing component with id is in the tree.
func (c *Component) find(id string) bool {
	if c == nil || !c.Contributes {
		return false
	}
	if c.ID == id {
		return true
	}
	for _, ch := range c.Children {
		if ch.find(id) {
			return true
		}
	}
	return false
}

// hashValues is Sentry's hash_from_values: the MD5 of the values' bytes,
// concatenated without separators. Using the same function keeps
// Faultline's hashes equal to Sentry's where the trees are equal.
func hashValues(values []string) string {
	h := md5.New()
	for _, v := range values {
		h.Write([]byte(v))
	}
	return hex.EncodeToString(h.Sum(nil))
}

var componentNames = map[string]string{
	"app": "in-app", "system": "system", "default": "default", "chained-exception": "chained exception",
	"exception": "exception", "stacktrace": "stack-trace", "frame": "frame", "module": "module",
	"filename": "filename", "function": "function", "context-line": "context-line", "type": "type",
	"value": "value", "message": "message", "threads": "thread",
}

// MarshalJSON renders the component as Sentry's grouping-info does.
func (c *Component) MarshalJSON() ([]byte, error) {
	values := make([]any, 0, len(c.Values)+len(c.Children))
	for _, v := range c.Values {
		values = append(values, v)
	}
	for _, ch := range c.Children {
		values = append(values, ch)
	}
	var hint any
	if c.Hint != "" {
		hint = c.Hint
	}
	name, ok := componentNames[c.ID]
	if !ok {
		name = c.ID
	}
	return json.Marshal(map[string]any{
		"id": c.ID, "name": name, "contributes": c.Contributes, "hint": hint, "values": values,
	})
}
