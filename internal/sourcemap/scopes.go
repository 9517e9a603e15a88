package sourcemap

import (
	"slices"
	"strings"
)

// scopeIndex lists the functions of a minified file with the position of
// the name each was given (function f(){}, f=function(){}, f:()=>{}, a
// method f(){}), so that a frame's enclosing function can be named from
// the map at that position, as Sentry's scope lookup does. It is built
// once per file by a tokenizer that knows JavaScript's strings, template
// literals, comments and regular expressions, not a full parser: an
// unusual construct leaves a scope unnamed, never a wrong one found.
type scopeIndex struct {
	lineStarts []int // byte offset of each line of the minified file
	scopes     []scope
}

type scope struct {
	start, end int // byte offsets of the body
	parent     int // index of the enclosing scope, -1 at top level
	name       int // byte offset of the name's identifier, -1 if anonymous
	nameText   string
}

func (x *scopeIndex) size() int64 {
	n := int64(len(x.lineStarts))*8 + 64
	for _, s := range x.scopes {
		n += 48 + int64(len(s.nameText))
	}
	return n
}

// maxScopeSource bounds the minified files indexed (larger ones are
// symbolicated without scope names).
const maxScopeSource = 32 << 20

type tokKind uint8

const (
	tIdent tokKind = iota
	tKeyword
	tNumber
	tString
	tRegex
	tTemplate
	tPunct  // one character: ( ) [ ] { } , ; : . ? etc.
	tAssign // =
	tArrow  // =>
	tOp     // other operators
)

type tok struct {
	kind tokKind
	pos  int
	end  int
	ch   byte // the character of a tPunct
}

var jsKeywords = map[string]bool{
	"break": true, "case": true, "catch": true, "class": true, "const": true, "continue": true, "debugger": true,
	"default": true, "delete": true, "do": true, "else": true, "export": true, "extends": true, "finally": true,
	"for": true, "function": true, "if": true, "import": true, "in": true, "instanceof": true, "new": true,
	"return": true, "super": true, "switch": true, "this": true, "throw": true, "try": true, "typeof": true,
	"var": true, "void": true, "while": true, "with": true, "yield": true, "let": true, "await": true,
	"null": true, "true": true, "false": true,
}

// open is one bracket (or an arrow's expression body) not yet closed.
type open struct {
	ch       byte // '(', '[', '{', '$' (a template's ${), 'A' (an arrow's expression body)
	tokIdx   int  // index of the opening token
	scope    int  // the scope it opened, -1 for none
	template bool
}

// buildScopes indexes the functions of a minified source.
func buildScopes(src string) *scopeIndex {
	x := &scopeIndex{lineStarts: []int{0}}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			x.lineStarts = append(x.lineStarts, i+1)
		}
	}
	if len(src) > maxScopeSource {
		return x
	}
	// About one token per 3 bytes of minified code: sized once.
	toks := make([]tok, 0, len(src)/3+16)
	var stack []open
	cur := func() int {
		for i := len(stack) - 1; i >= 0; i-- {
			if stack[i].scope >= 0 {
				return stack[i].scope
			}
		}
		return -1
	}
	closeScope := func(o open, end int) {
		if o.scope >= 0 {
			x.scopes[o.scope].end = end
		}
	}
	// closeArrows ends the expression bodies of arrows at a ',' ';' or a
	// closing bracket of the level they are in.
	closeArrows := func(pos int) {
		for len(stack) > 0 && stack[len(stack)-1].ch == 'A' {
			closeScope(stack[len(stack)-1], pos)
			stack = stack[:len(stack)-1]
		}
	}
	newScope := func(start, name int, text string) int {
		x.scopes = append(x.scopes, scope{start: start, end: len(src), parent: cur(), name: name, nameText: text})
		return len(x.scopes) - 1
	}
	prev := func(back int) *tok {
		if i := len(toks) - back; i >= 0 && i < len(toks) {
			return &toks[i]
		}
		return nil
	}
	isPunct := func(t *tok, c byte) bool { return t != nil && t.kind == tPunct && t.ch == c }
	text := func(t *tok) string { return src[t.pos:t.end] }
	// assignedName is the name a function expression starting at token i
	// is given by what precedes it: NAME= or NAME: (a property).
	assignedName := func(i int) (int, string) {
		if i < 2 {
			return -1, ""
		}
		op, id := &toks[i-1], &toks[i-2]
		if (op.kind == tAssign || isPunct(op, ':')) && (id.kind == tIdent || id.kind == tKeyword) {
			if op.kind == tPunct && id.kind == tKeyword {
				return id.pos, text(id) // {default: function(){}}
			}
			if id.kind == tIdent {
				return id.pos, text(id)
			}
		}
		return -1, ""
	}
	// functionBrace decides whether the '{' about to be pushed opens a
	// function's body, and its name.
	functionBrace := func() (bool, int, string) {
		p := prev(1)
		if p == nil {
			return false, -1, ""
		}
		if p.kind == tArrow {
			// (params)=>{ or param=>{
			q := len(toks) - 2
			if q >= 0 && isPunct(&toks[q], ')') {
				q = matchingOpen(toks, q)
			}
			if q < 0 {
				return true, -1, ""
			}
			if q > 0 && toks[q-1].kind == tIdent && text(&toks[q-1]) == "async" {
				q--
			}
			n, t := assignedName(q)
			return true, n, t
		}
		if !isPunct(p, ')') {
			return false, -1, ""
		}
		q := matchingOpen(toks, len(toks)-1)
		if q <= 0 {
			return false, -1, ""
		}
		b := &toks[q-1]
		switch {
		case b.kind == tKeyword && text(b) == "function":
			n, t := assignedName(q - 1)
			return true, n, t
		case isPunct(b, '*') && q >= 2 && toks[q-2].kind == tKeyword && text(&toks[q-2]) == "function":
			n, t := assignedName(q - 2)
			return true, n, t
		case b.kind == tIdent:
			// function NAME(){, or a method NAME(){ of an object literal
			// or a class body.
			return true, b.pos, text(b)
		case b.kind == tKeyword:
			// if(...){, for(...){, while(...){, catch(e){, with(...){,
			// switch(...){: blocks.
			return false, -1, ""
		}
		return false, -1, ""
	}

	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return x
			}
			i += end + 4
			continue
		}
		start := i
		switch {
		case c == '"' || c == '\'':
			i = skipString(src, i)
			toks = append(toks, tok{kind: tString, pos: start, end: i})
		case c == '`':
			var stop bool
			i, stop = skipTemplate(src, i+1)
			toks = append(toks, tok{kind: tTemplate, pos: start, end: i})
			if stop {
				stack = append(stack, open{ch: '$', tokIdx: len(toks) - 1, scope: -1, template: true})
			}
		case c == '}' && len(stack) > 0 && stack[len(stack)-1].template:
			// The end of a template's ${...}: the template goes on.
			stack = stack[:len(stack)-1]
			var stop bool
			i, stop = skipTemplate(src, i+1)
			toks = append(toks, tok{kind: tTemplate, pos: start, end: i})
			if stop {
				stack = append(stack, open{ch: '$', tokIdx: len(toks) - 1, scope: -1, template: true})
			}
		case isIdentStart(c):
			for i < len(src) && isIdentPart(src[i]) {
				i++
			}
			k := tIdent
			if jsKeywords[src[start:i]] {
				k = tKeyword
			}
			// obj.default, {if: 1}: a property name is an identifier.
			if p := prev(1); k == tKeyword && p != nil && (isPunct(p, '.') || (p.kind == tPunct && p.ch == '?' && p.end == start)) {
				k = tIdent
			}
			toks = append(toks, tok{kind: k, pos: start, end: i})
		case c >= '0' && c <= '9' || (c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9'):
			for i < len(src) && (isIdentPart(src[i]) || src[i] == '.') {
				i++
			}
			toks = append(toks, tok{kind: tNumber, pos: start, end: i})
		case c == '/' && regexAllowed(prev(1), src):
			i = skipRegex(src, i+1)
			toks = append(toks, tok{kind: tRegex, pos: start, end: i})
		case c == '=' && i+1 < len(src) && src[i+1] == '>':
			i += 2
			toks = append(toks, tok{kind: tArrow, pos: start, end: i})
			if j := skipSpace(src, i); j < len(src) && src[j] != '{' {
				// An arrow with an expression body: a scope until the
				// expression ends.
				p := len(toks) - 2
				if p >= 0 && isPunct(&toks[p], ')') {
					p = matchingOpen(toks, p)
				}
				n, t := -1, ""
				if p >= 0 {
					n, t = assignedName(p)
				}
				stack = append(stack, open{ch: 'A', tokIdx: len(toks) - 1, scope: newScope(i, n, t)})
			}
		case c == '=' && i+1 < len(src) && src[i+1] == '=':
			for i < len(src) && src[i] == '=' {
				i++
			}
			toks = append(toks, tok{kind: tOp, pos: start, end: i})
		case c == '=':
			i++
			toks = append(toks, tok{kind: tAssign, pos: start, end: i})
		default:
			i++
			t := tok{kind: tPunct, pos: start, end: i, ch: c}
			switch c {
			case '(', '[':
				stack = append(stack, open{ch: c, tokIdx: len(toks), scope: -1})
			case '{':
				isFn, n, name := functionBrace()
				o := open{ch: c, tokIdx: len(toks), scope: -1}
				if isFn {
					o.scope = newScope(start, n, name)
				}
				stack = append(stack, o)
			case ')', ']', '}':
				closeArrows(start)
				if len(stack) > 0 {
					closeScope(stack[len(stack)-1], i)
					stack = stack[:len(stack)-1]
				}
			case ',', ';':
				closeArrows(start)
			}
			toks = append(toks, t)
		}
	}
	closeArrows(len(src))
	return x
}

// matchingOpen returns the index of the '(' matching the ')' at toks[i],
// or -1.
func matchingOpen(toks []tok, i int) int {
	depth := 0
	for ; i >= 0; i-- {
		t := &toks[i]
		if t.kind != tPunct {
			continue
		}
		switch t.ch {
		case ')', ']', '}':
			depth++
		case '(', '[', '{':
			depth--
			if depth == 0 {
				if t.ch != '(' {
					return -1
				}
				return i
			}
		}
	}
	return -1
}

// regexAllowed reports whether a '/' after the token p starts a regular
// expression rather than a division.
func regexAllowed(p *tok, src string) bool {
	if p == nil {
		return true
	}
	switch p.kind {
	case tIdent, tNumber, tString, tRegex, tTemplate:
		return false
	case tKeyword:
		switch src[p.pos:p.end] {
		case "this", "super", "null", "true", "false":
			return false
		}
		return true
	case tPunct:
		return p.ch != ')' && p.ch != ']' && p.ch != '}'
	}
	return true
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || c == '\\' || c == '#'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

func skipSpace(src string, i int) int {
	for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
		i++
	}
	return i
}

func skipString(src string, i int) int {
	q := src[i]
	for i++; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case q:
			return i + 1
		case '\n':
			return i
		}
	}
	return len(src)
}

// skipTemplate scans a template literal from i (after ` or }) to its end
// (after `), or to a ${ (stop is true, i after the "${").
func skipTemplate(src string, i int) (int, bool) {
	for ; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '`':
			return i + 1, false
		case '$':
			if i+1 < len(src) && src[i+1] == '{' {
				return i + 2, true
			}
		}
	}
	return len(src), false
}

func skipRegex(src string, i int) int {
	inClass := false
	for ; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case '[':
			inClass = true
		case ']':
			inClass = false
		case '/':
			if !inClass {
				i++
				for i < len(src) && isIdentPart(src[i]) {
					i++
				}
				return i
			}
		case '\n':
			return i
		}
	}
	return len(src)
}

// offset turns a 0-based line and column into a byte offset.
func (x *scopeIndex) offset(line, col int) (int, bool) {
	if line < 0 || line >= len(x.lineStarts) || col < 0 {
		return 0, false
	}
	return x.lineStarts[line] + col, true
}

// position turns a byte offset into a 0-based line and column.
func (x *scopeIndex) position(off int) (int, int) {
	l, _ := slices.BinarySearch(x.lineStarts, off+1)
	l--
	return l, off - x.lineStarts[l]
}

// enclosing returns the innermost function containing the offset, or nil.
func (x *scopeIndex) enclosing(off int) *scope {
	i, _ := slices.BinarySearchFunc(x.scopes, off+1, func(s scope, t int) int { return s.start - t })
	for i--; i >= 0; i = x.scopes[i].parent {
		if s := &x.scopes[i]; s.start <= off && off < s.end {
			return s
		}
	}
	return nil
}
