// Package minidump reads uploads to Sentry's minidump endpoint: a crash
// dump sent by Breakpad, Crashpad or Electron, either as the whole request
// body or as the "upload_file_minidump" file of a multipart form whose other
// fields carry event data (a "sentry" JSON field, "sentry[key][sub]" fields
// or plain fields that become "extra"). It returns the files to keep as
// attachments and the event that records the crash, built as Relay builds it
// (endpoints/minidump.rs, merge_formdata, write_native_placeholder).
//
// Faultline does not symbolicate: the event says that a minidump was
// received and the dump itself is kept for download.
package minidump

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"sort"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// FieldName is the form field that holds the minidump.
const FieldName = "upload_file_minidump"

// Attachment types, as Sentry names them.
const (
	TypeMinidump    = "event.minidump"
	TypeAttachment  = "event.attachment"
	TypeBreadcrumbs = "event.breadcrumbs"
	TypeViewHier    = "event.view_hierarchy"
	TypeEventMsgpck = "event.payload"
)

// Limits.
const (
	// MaxFileSize bounds each file, the minidump decompressed included
	// (Relay's max_attachment_size).
	MaxFileSize = 200 << 20
	// MaxFiles bounds the files of one upload (max_attachment_count).
	MaxFiles = 30
	// MaxFormSize bounds the form fields together: they become the event,
	// whose limit is 1 MiB.
	MaxFormSize = 1 << 20
	// maxFormFields bounds the number of non-file fields.
	maxFormFields = 1000
	// maxPartHeader bounds a part's header block.
	maxPartHeader = 16 << 10
)

// Errors. Each wraps into a 4xx answer: ErrTooLarge is 413, the others 400.
var (
	ErrMissing  = errors.New("missing minidump")
	ErrInvalid  = errors.New("invalid minidump")
	ErrForm     = errors.New("invalid multipart data")
	ErrTooLarge = errors.New("minidump upload too large")
)

// File is a file of the upload, kept as an attachment.
type File struct {
	Field          string // the form field, "" for a raw upload
	Name           string
	ContentType    string
	AttachmentType string
	Data           []byte
}

// Upload is a parsed minidump upload.
type Upload struct {
	EventID string // 32 lowercase hex
	Event   []byte // the event JSON
	Files   []File // the minidump first
}

// rawContentTypes are the content types of a minidump sent as the whole
// body (Relay's MINIDUMP_RAW_CONTENT_TYPES).
var rawContentTypes = map[string]bool{"application/octet-stream": true, "application/x-dmp": true}

// Parse reads an upload of the given Content-Type. body is the whole
// request body, already bounded by the caller.
func Parse(body []byte, contentType string) (*Upload, error) {
	mt, params, _ := mime.ParseMediaType(contentType)
	mt = strings.ToLower(mt)
	var (
		files []File
		form  []field
	)
	if rawContentTypes[mt] {
		files = []File{{Name: "Minidump", ContentType: "application/octet-stream", AttachmentType: TypeMinidump, Data: body}}
	} else {
		boundary := params["boundary"]
		if mt != "multipart/form-data" || boundary == "" {
			return nil, fmt.Errorf("%w: expected multipart/form-data with a boundary, or a raw minidump", ErrForm)
		}
		var err error
		if files, form, err = readForm(body, boundary); err != nil {
			return nil, err
		}
	}
	mi := -1
	for i := range files {
		if files[i].AttachmentType == TypeMinidump {
			mi = i
			break
		}
	}
	if mi < 0 {
		return nil, ErrMissing
	}
	md := &files[mi]
	if inner := embeddedMinidump(md.Data); inner != nil {
		md.Data = inner
	}
	data, err := decompress(md.Data)
	if err != nil {
		return nil, err
	}
	md.Data = data
	if !bytes.HasPrefix(data, []byte("MDMP")) && !bytes.HasPrefix(data, []byte("PMDM")) {
		return nil, fmt.Errorf("%w: no minidump header", ErrInvalid)
	}
	for _, ext := range []string{".gz", ".xz", ".bz2", ".zst"} {
		md.Name = strings.TrimSuffix(md.Name, ext)
	}
	// The minidump first, then the others in the order they came.
	m := files[mi]
	copy(files[1:mi+1], files[:mi])
	files[0] = m
	event, err := buildEvent(form)
	if err != nil {
		return nil, err
	}
	id, err := eventID(event)
	if err != nil {
		return nil, err
	}
	event["event_id"] = id
	placeholder(event)
	out, err := json.Marshal(event)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrForm, err)
	}
	if len(out) > MaxFormSize+4096 {
		return nil, fmt.Errorf("%w: event data over %d bytes", ErrTooLarge, MaxFormSize)
	}
	return &Upload{EventID: id, Event: out, Files: files}, nil
}

// field is a non-file form field.
type field struct{ key, value string }

// readForm reads a multipart body: parts with a file name are files, the
// others form fields.
func readForm(body []byte, boundary string) ([]File, []field, error) {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var (
		files    []File
		form     []field
		formSize int
	)
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrForm, err)
		}
		if headerSize(p.Header) > maxPartHeader {
			return nil, nil, fmt.Errorf("%w: part header too large", ErrForm)
		}
		name, filename := p.FormName(), p.FileName()
		if filename == "" && name == "" {
			continue
		}
		if filename == "" {
			if len(form) >= maxFormFields {
				return nil, nil, fmt.Errorf("%w: more than %d form fields", ErrTooLarge, maxFormFields)
			}
			v, err := readAtMost(p, MaxFormSize-formSize)
			if err != nil {
				return nil, nil, err
			}
			formSize += len(v)
			form = append(form, field{name, string(v)})
			continue
		}
		if len(files) >= MaxFiles {
			return nil, nil, fmt.Errorf("%w: more than %d files", ErrTooLarge, MaxFiles)
		}
		data, err := readAtMost(p, MaxFileSize)
		if err != nil {
			return nil, nil, err
		}
		ct := p.Header.Get("Content-Type")
		if ct == "" {
			ct = "application/octet-stream"
		}
		files = append(files, File{Field: name, Name: filename, ContentType: ct, AttachmentType: attachmentType(name), Data: data})
	}
	return files, form, nil
}

func headerSize(h textproto.MIMEHeader) int {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// readAtMost reads r to EOF, failing with ErrTooLarge past limit bytes.
func readAtMost(r io.Reader, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrForm, err)
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%w: a part exceeds %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}

// attachmentType is Relay's infer_attachment_type.
func attachmentType(fieldName string) string {
	switch fieldName {
	case FieldName:
		return TypeMinidump
	case "__sentry-breadcrumbs1", "__sentry-breadcrumbs2":
		return TypeBreadcrumbs
	case "__sentry-event":
		return TypeEventMsgpck
	case "view-hierarchy.json":
		return TypeViewHier
	}
	return TypeAttachment
}

// embeddedMinidump handles old Electron SDKs, which sent the minidump field
// as a multipart body of its own: if data starts with "--boundary", the
// inner upload_file_minidump is returned.
func embeddedMinidump(data []byte) []byte {
	if !bytes.HasPrefix(data, []byte("--")) {
		return nil
	}
	line, _, ok := bytes.Cut(data[2:], []byte("\n"))
	if !ok {
		return nil
	}
	boundary := string(bytes.TrimRight(line, "\r"))
	if boundary == "" || len(boundary) > 70 {
		return nil
	}
	files, _, err := readForm(data, boundary)
	if err != nil {
		return nil
	}
	for _, f := range files {
		if f.Field == FieldName {
			return f.Data
		}
	}
	return nil
}

// decompress undoes the compression containers Relay recognizes by their
// magic bytes (gzip, bzip2, zstd; xz is not supported here), bounded by
// MaxFileSize. Data without a known magic is returned as is.
func decompress(data []byte) ([]byte, error) {
	var (
		r   io.Reader
		err error
	)
	switch {
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
		r, err = gzip.NewReader(bytes.NewReader(data))
	case bytes.HasPrefix(data, []byte("BZh")):
		r = bzip2.NewReader(bytes.NewReader(data))
	case bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		var zr *zstd.Decoder
		zr, err = zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(8<<20), zstd.WithDecoderMaxMemory(MaxFileSize))
		if err == nil {
			defer zr.Close()
			r = zr
		}
	default:
		return data, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: compression container: %v", ErrInvalid, err)
	}
	out, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
			return nil, fmt.Errorf("%w: decompressed minidump", ErrTooLarge)
		}
		return nil, fmt.Errorf("%w: compression container: %v", ErrInvalid, err)
	}
	if len(out) > MaxFileSize {
		return nil, fmt.Errorf("%w: decompressed minidump exceeds %d bytes", ErrTooLarge, MaxFileSize)
	}
	return out, nil
}

// buildEvent is Relay's merge_formdata: "sentry" (and "sentry___*") fields
// are event JSON merged in, "sentry__1", "sentry__2"... are chunks of one
// JSON document, "sentry[a][b]" sets a nested string, anything else goes to
// extra. Invalid JSON in a sentry field is ignored, as in Relay.
func buildEvent(form []field) (map[string]any, error) {
	event := map[string]any{}
	chunks := map[int]string{}
	for _, f := range form {
		switch {
		case f.key == "sentry" || strings.HasPrefix(f.key, "sentry___"):
			if v, ok := jsonObject(f.value); ok {
				mergeValues(event, v, 0)
			}
		case strings.HasPrefix(f.key, "sentry__"):
			if n, err := strconv.Atoi(f.key[len("sentry__"):]); err == nil && n > 0 && n <= maxFormFields {
				chunks[n] = f.value
			}
		case strings.HasPrefix(f.key, "sentry["):
			if keys, ok := bracketKeys(f.key); ok {
				setNested(event, keys, f.value)
			}
		default:
			setNested(event, []string{"extra", f.key}, f.value)
		}
	}
	if len(chunks) > 0 {
		idx := make([]int, 0, len(chunks))
		for i := range chunks {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		var b strings.Builder
		for _, i := range idx {
			b.WriteString(chunks[i])
		}
		if v, ok := jsonObject(b.String()); ok {
			mergeValues(event, v, 0)
		}
	}
	return event, nil
}

// jsonObject decodes a JSON object keeping numbers as they were written,
// so that re-encoding the event does not round large integers.
func jsonObject(s string) (map[string]any, bool) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v map[string]any
	if d.Decode(&v) != nil || v == nil {
		return nil, false
	}
	return v, true
}

// maxMergeDepth bounds recursion in mergeValues; JSON nesting is bounded
// too by encoding/json's own limit, but form data can be deep on its own.
const maxMergeDepth = 64

// mergeValues merges src into dst: objects recursively, anything else
// replaced.
func mergeValues(dst, src map[string]any, depth int) {
	for k, v := range src {
		sv, sok := v.(map[string]any)
		dv, dok := dst[k].(map[string]any)
		if sok && dok && depth < maxMergeDepth {
			mergeValues(dv, sv, depth+1)
			continue
		}
		dst[k] = v
	}
}

// bracketKeys splits "sentry[a][b]" into ["a", "b"].
func bracketKeys(key string) ([]string, bool) {
	rest := key[len("sentry"):]
	var keys []string
	for rest != "" {
		if rest[0] != '[' {
			return nil, false
		}
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return nil, false
		}
		keys = append(keys, rest[1:end])
		rest = rest[end+1:]
		if len(keys) > maxMergeDepth {
			return nil, false
		}
	}
	return keys, len(keys) > 0
}

// setNested sets event[k1][k2]... = value, replacing non-objects on the
// way.
func setNested(event map[string]any, keys []string, value string) {
	m := event
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = value
}

// eventID returns the event's normalized id, or a new one if it has none.
func eventID(event map[string]any) (string, error) {
	if v, ok := event["event_id"]; ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("%w: event_id is not a string", ErrForm)
		}
		id := strings.ToLower(strings.ReplaceAll(strings.Trim(s, "{}"), "-", ""))
		if len(id) != 32 {
			return "", fmt.Errorf("%w: invalid event_id", ErrForm)
		}
		if _, err := hex.DecodeString(id); err != nil {
			return "", fmt.Errorf("%w: invalid event_id", ErrForm)
		}
		return id, nil
	}
	var b [16]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand does not fail on Linux
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:]), nil
}

// Placeholder is the exception the event carries in place of the stack
// traces a symbolicator would extract from the dump.
const (
	PlaceholderType  = "Minidump"
	PlaceholderValue = "crash report received (not symbolicated)"
)

// placeholder is Relay's write_native_placeholder: a native, fatal event
// whose exception stands for the crash. Relay marks it synthetic and calls
// it "Invalid Minidump" until symbolication replaces it; Faultline never
// symbolicates, so the exception is real and says what happened, which
// titles the issue "Minidump: crash report received (not symbolicated)".
func placeholder(event map[string]any) {
	event["platform"] = "native"
	event["level"] = "fatal"
	event["exception"] = map[string]any{"values": []any{map[string]any{
		"type":      PlaceholderType,
		"value":     PlaceholderValue,
		"mechanism": map[string]any{"type": "minidump", "handled": false},
	}}}
}
