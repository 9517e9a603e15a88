// Package sourcemap maps minified JavaScript stack frames back to the code
// the developer wrote: it decodes source maps (ECMA-426, including index
// maps), caches the parsed maps with a byte bound, and symbolicates the
// JavaScript frames of an event from the files the project uploaded
// (Artifacts), before grouping.
package sourcemap

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	gojson "github.com/goccy/go-json"
)

// MaxMapSize bounds the source maps Decode accepts (the upload side bounds
// files too; this keeps a decoder call bounded on its own).
const MaxMapSize = 64 << 20

// MaxMappings bounds the segments of one map (24 bytes each in memory),
// whatever its size in bytes.
const MaxMappings = 8 << 20

// ErrInvalid marks a document that is not a usable source map.
var ErrInvalid = errors.New("invalid source map")

// Map is a decoded source map: every mapping of the generated file, sorted
// by generated position, with the sources, their contents and the names.
type Map struct {
	File     string
	Sources  []string  // with sourceRoot applied
	Contents []*string // sourcesContent, nil where absent
	Names    []string
	mappings []mapping
	size     int64

	mu    sync.Mutex // guards split
	split []*lines   // the contents split into lines, on first use
}

// mapping is one segment: a generated position and, when src >= 0, the
// original position (and name when name >= 0). Positions are 0-based.
type mapping struct {
	genLine, genCol uint32
	srcLine, srcCol uint32
	src, name       int32
}

// Token is the original position of a generated one.
type Token struct {
	Source  string // the source as the map names it (sourceRoot applied)
	SrcIdx  int
	Line    int    // 0-based
	Col     int    // 0-based
	Name    string // "" when the map has no name there
	GenLine int    // the mapping's generated position, 0-based
	GenCol  int
}

// Size is an estimate of the bytes the map holds in memory, for the cache.
func (m *Map) Size() int64 { return m.size }

// Len is the number of mappings.
func (m *Map) Len() int { return len(m.mappings) }

// Content returns the source text of source i, if the map embeds it.
func (m *Map) Content(i int) (string, bool) {
	if i < 0 || i >= len(m.Contents) || m.Contents[i] == nil {
		return "", false
	}
	return *m.Contents[i], true
}

// Lookup returns the original position of the generated position (line,
// col), both 0-based: the closest mapping at or before it on the same
// line, as browsers and Sentry resolve a column that points inside a token.
func (m *Map) Lookup(line, col int) (Token, bool) {
	if line < 0 || col < 0 {
		return Token{}, false
	}
	l, c := uint32(line), uint32(col)
	if int(l) != line || int(c) != col {
		return Token{}, false
	}
	i, _ := slices.BinarySearchFunc(m.mappings, [2]uint32{l, c}, func(a mapping, t [2]uint32) int {
		switch {
		case a.genLine != t[0]:
			return cmpU32(a.genLine, t[0])
		default:
			return cmpU32(a.genCol, t[1])
		}
	})
	// i is the first mapping at or after (l, c); an exact match is the one.
	if i < len(m.mappings) && m.mappings[i].genLine == l && m.mappings[i].genCol == c {
		return m.token(i)
	}
	if i == 0 || m.mappings[i-1].genLine != l {
		return Token{}, false
	}
	return m.token(i - 1)
}

func (m *Map) token(i int) (Token, bool) {
	mp := m.mappings[i]
	if mp.src < 0 {
		return Token{}, false
	}
	t := Token{Source: m.Sources[mp.src], SrcIdx: int(mp.src), Line: int(mp.srcLine), Col: int(mp.srcCol),
		GenLine: int(mp.genLine), GenCol: int(mp.genCol)}
	if mp.name >= 0 {
		t.Name = m.Names[mp.name]
	}
	return t, true
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type rawMap struct {
	Version        int          `json:"version"`
	File           string       `json:"file"`
	SourceRoot     string       `json:"sourceRoot"`
	Sources        []*string    `json:"sources"`
	SourcesContent []*string    `json:"sourcesContent"`
	Names          []string     `json:"names"`
	Mappings       string       `json:"mappings"`
	Sections       []rawSection `json:"sections"`
}

type rawSection struct {
	Offset struct {
		Line   int `json:"line"`
		Column int `json:"column"`
	} `json:"offset"`
	URL string  `json:"url"`
	Map *rawMap `json:"map"`
}

// Decode parses a source map, regular or indexed (sections). A leading
// ")]}'" line (an XSSI guard some servers add) is skipped.
func Decode(data []byte) (*Map, error) {
	if len(data) > MaxMapSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalid, len(data), MaxMapSize)
	}
	if len(data) >= 4 && string(data[:4]) == ")]}'" {
		if i := strings.IndexByte(string(data), '\n'); i >= 0 {
			data = data[i+1:]
		} else {
			data = nil
		}
	}
	var r rawMap
	if err := gojson.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	m := &Map{File: r.File}
	if r.Sections != nil {
		if r.Mappings != "" {
			return nil, fmt.Errorf("%w: both sections and mappings", ErrInvalid)
		}
		if err := m.addSections(r.Sections); err != nil {
			return nil, err
		}
	} else if err := m.add(&r, 0, 0); err != nil {
		return nil, err
	}
	// Sections come ordered, but nothing forces a producer's segments to;
	// lookups need them sorted.
	if !slices.IsSortedFunc(m.mappings, cmpMapping) {
		slices.SortStableFunc(m.mappings, cmpMapping)
	}
	m.size = int64(len(m.mappings))*24 + 256
	for _, s := range m.Sources {
		m.size += int64(len(s)) + 16
	}
	for _, c := range m.Contents {
		if c != nil {
			// The text, and its line offsets once split.
			m.size += int64(len(*c)) + 4*int64(strings.Count(*c, "\n")+1) + 96
		}
	}
	for _, n := range m.Names {
		m.size += int64(len(n)) + 16
	}
	return m, nil
}

func cmpMapping(a, b mapping) int {
	if c := cmpU32(a.genLine, b.genLine); c != 0 {
		return c
	}
	return cmpU32(a.genCol, b.genCol)
}

func (m *Map) addSections(sections []rawSection) error {
	lastLine, lastCol := -1, -1
	for i := range sections {
		s := &sections[i]
		if s.Map == nil {
			if s.URL != "" {
				return fmt.Errorf("%w: section %d refers to a map by url, which is not supported", ErrInvalid, i)
			}
			return fmt.Errorf("%w: section %d has no map", ErrInvalid, i)
		}
		if s.Map.Sections != nil {
			return fmt.Errorf("%w: section %d is an index map itself", ErrInvalid, i)
		}
		line, col := s.Offset.Line, s.Offset.Column
		if line < 0 || col < 0 || line > 1<<31 || col > 1<<31 {
			return fmt.Errorf("%w: section %d has a bad offset", ErrInvalid, i)
		}
		if line < lastLine || (line == lastLine && col < lastCol) {
			return fmt.Errorf("%w: section %d is out of order", ErrInvalid, i)
		}
		lastLine, lastCol = line, col
		if err := m.add(s.Map, uint32(line), uint32(col)); err != nil {
			return err
		}
	}
	return nil
}

// add appends a regular map's sources, names and mappings, its generated
// positions shifted by the section offset.
func (m *Map) add(r *rawMap, lineOff, colOff uint32) error {
	if r.Version != 0 && r.Version != 3 {
		return fmt.Errorf("%w: version %d", ErrInvalid, r.Version)
	}
	srcBase, nameBase := int32(len(m.Sources)), int32(len(m.Names))
	if len(m.Sources)+len(r.Sources) > 1<<30 || len(m.Names)+len(r.Names) > 1<<30 {
		return fmt.Errorf("%w: too many sources or names", ErrInvalid)
	}
	for i, s := range r.Sources {
		src := ""
		if s != nil {
			src = *s
		}
		if r.SourceRoot != "" && src != "" && !strings.Contains(src, "://") && !strings.HasPrefix(src, "/") {
			src = strings.TrimSuffix(r.SourceRoot, "/") + "/" + src
		}
		m.Sources = append(m.Sources, src)
		var content *string
		if i < len(r.SourcesContent) {
			content = r.SourcesContent[i]
		}
		m.Contents = append(m.Contents, content)
	}
	m.Names = append(m.Names, r.Names...)
	return m.decodeMappings(r.Mappings, lineOff, colOff, srcBase, int32(len(r.Sources)), nameBase, int32(len(r.Names)))
}

// decodeMappings reads the Base64 VLQ "mappings" string.
func (m *Map) decodeMappings(s string, lineOff, colOff uint32, srcBase, nSrc, nameBase, nNames int32) error {
	var (
		line                          = int64(lineOff)
		col, src, srcLine, srcCol, nm int64
		fields                        [5]int64
	)
	firstLine := true
	for i := 0; i <= len(s); {
		// One segment, up to ',' or ';' or the end.
		n := 0
		for i < len(s) && s[i] != ',' && s[i] != ';' {
			if n == 5 {
				return fmt.Errorf("%w: a segment has more than 5 fields", ErrInvalid)
			}
			v, next, err := vlq(s, i)
			if err != nil {
				return err
			}
			fields[n] = v
			n++
			i = next
		}
		if n > 0 {
			if n != 1 && n != 4 && n != 5 {
				return fmt.Errorf("%w: a segment has %d fields", ErrInvalid, n)
			}
			col += fields[0]
			gc := col
			if firstLine {
				gc += int64(colOff)
			}
			if col < 0 || gc > 1<<32-1 || line > 1<<32-1 {
				return fmt.Errorf("%w: a generated position is out of range", ErrInvalid)
			}
			mp := mapping{genLine: uint32(line), genCol: uint32(gc), src: -1, name: -1}
			if n >= 4 {
				src += fields[1]
				srcLine += fields[2]
				srcCol += fields[3]
				if src < 0 || src >= int64(nSrc) || srcLine < 0 || srcCol < 0 || srcLine > 1<<32-1 || srcCol > 1<<32-1 {
					return fmt.Errorf("%w: a mapping points outside the sources", ErrInvalid)
				}
				mp.src, mp.srcLine, mp.srcCol = srcBase+int32(src), uint32(srcLine), uint32(srcCol)
				if n == 5 {
					nm += fields[4]
					if nm < 0 || nm >= int64(nNames) {
						return fmt.Errorf("%w: a mapping names a missing name", ErrInvalid)
					}
					mp.name = nameBase + int32(nm)
				}
			}
			if len(m.mappings) >= MaxMappings {
				return fmt.Errorf("%w: more than %d mappings", ErrInvalid, MaxMappings)
			}
			m.mappings = append(m.mappings, mp)
		}
		if i >= len(s) {
			break
		}
		if s[i] == ';' {
			line++
			col = 0
			firstLine = false
		}
		i++
	}
	return nil
}

var b64 = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = int8(i)
	}
	return t
}()

// vlq reads one Base64 VLQ value from s at i.
func vlq(s string, i int) (int64, int, error) {
	var v uint64
	shift := uint(0)
	for {
		if i >= len(s) {
			return 0, i, fmt.Errorf("%w: a VLQ value is cut short", ErrInvalid)
		}
		d := b64[s[i]]
		i++
		if d < 0 {
			return 0, i, fmt.Errorf("%w: %q is not Base64", ErrInvalid, s[i-1])
		}
		if shift > 32 {
			return 0, i, fmt.Errorf("%w: a VLQ value is too large", ErrInvalid)
		}
		v |= uint64(d&31) << shift
		shift += 5
		if d&32 == 0 {
			break
		}
	}
	neg := v&1 == 1
	v >>= 1
	if neg {
		return -int64(v), i, nil
	}
	return int64(v), i, nil
}
