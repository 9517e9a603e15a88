package minidump

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime/multipart"
	"net/textproto"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

var dump = append([]byte("MDMP\x93\xa7\x00\x00"), bytes.Repeat([]byte{1, 2, 3, 4}, 100)...)

// part is one field of a test form.
type part struct {
	name, filename, contentType string
	data                        []byte
}

func form(t testing.TB, parts ...part) ([]byte, string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := `form-data; name="` + p.name + `"`
		if p.filename != "" {
			cd += `; filename="` + p.filename + `"`
		}
		h.Set("Content-Disposition", cd)
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(p.data)
	}
	w.Close()
	return buf.Bytes(), w.FormDataContentType()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zst(b []byte) []byte {
	w, _ := zstd.NewWriter(nil)
	return w.EncodeAll(b, nil)
}

// bz2 is "MDMPminidump-bytes" compressed with bzip2 (Go cannot write bzip2).
var bz2, _ = base64.StdEncoding.DecodeString("QlpoOTFBWSZTWQ40EKAAAAEXgAACBAJAABYjTiAgACIRtIaPTUKYAA7HhkUSauYtJfF3JFOFCQDjQQoA")

func decodeEvent(t *testing.T, u *Upload) map[string]any {
	t.Helper()
	var ev map[string]any
	d := json.NewDecoder(bytes.NewReader(u.Event))
	d.UseNumber()
	if err := d.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestCrashpadUpload is what Crashpad and the Electron SDK send: the dump,
// the "sentry" JSON field, bracketed fields and plain annotations.
func TestCrashpadUpload(t *testing.T) {
	body, ct := form(t,
		part{name: "sentry", data: []byte(`{"event_id":"9ec79c33-ec99-42ab-8353-589fcb2e04dc","release":"app@1.0","user":{"id":"42"},"tags":{"a":"b"},"extra":{"big":12345678901234567890},"level":"info"}`)},
		part{name: "sentry[tags][channel]", data: []byte("beta")},
		part{name: "sentry[user][email]", data: []byte("jane@example.com")},
		part{name: "prod", data: []byte("Electron")},
		part{name: "ver", data: []byte("30.0.1")},
		part{name: "__sentry-breadcrumbs1", filename: "breadcrumbs.msgpack", data: []byte{0x91, 0x80}},
		part{name: FieldName, filename: "minidump.dmp.gz", contentType: "application/octet-stream", data: gz(dump)},
		part{name: "log", filename: "app.log", contentType: "text/plain", data: []byte("started\n")},
	)
	u, err := Parse(body, ct)
	if err != nil {
		t.Fatal(err)
	}
	if u.EventID != "9ec79c33ec9942ab8353589fcb2e04dc" {
		t.Errorf("event id %q", u.EventID)
	}
	var names, types []string
	for _, f := range u.Files {
		names, types = append(names, f.Name), append(types, f.AttachmentType)
	}
	if !reflect.DeepEqual(names, []string{"minidump.dmp", "breadcrumbs.msgpack", "app.log"}) ||
		!reflect.DeepEqual(types, []string{TypeMinidump, TypeBreadcrumbs, TypeAttachment}) {
		t.Errorf("files %q %q", names, types)
	}
	if !bytes.Equal(u.Files[0].Data, dump) {
		t.Error("minidump not decompressed")
	}
	ev := decodeEvent(t, u)
	want := map[string]any{
		"event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
		"release":  "app@1.0",
		"platform": "native",
		"level":    "fatal",
		"user":     map[string]any{"id": "42", "email": "jane@example.com"},
		"tags":     map[string]any{"a": "b", "channel": "beta"},
		"extra":    map[string]any{"big": json.Number("12345678901234567890"), "prod": "Electron", "ver": "30.0.1"},
		"exception": map[string]any{"values": []any{map[string]any{
			"type": PlaceholderType, "value": PlaceholderValue,
			"mechanism": map[string]any{"type": "minidump", "handled": false},
		}}},
	}
	if !reflect.DeepEqual(ev, want) {
		got, _ := json.MarshalIndent(ev, "", "  ")
		t.Errorf("event:\n%s", got)
	}
}

func TestUploads(t *testing.T) {
	electron, ect := form(t, part{name: FieldName, filename: "upload.dmp", data: dump})
	tests := []struct {
		name, contentType string
		body              []byte
		err               error
		fileName          string
	}{
		{"raw octet-stream", "application/octet-stream", dump, nil, "Minidump"},
		{"raw x-dmp", "application/x-dmp", dump, nil, "Minidump"},
		{"raw gzip", "application/octet-stream", gz(dump), nil, "Minidump"},
		{"zstd in a form", "", nil, nil, "m.dmp"},
		{"bzip2 in a form", "", nil, nil, "m.dmp"},
		{"big-endian magic", "application/octet-stream", []byte("PMDM rest"), nil, "Minidump"},
		// Old Electron SDKs nest a multipart body in the field.
		{"embedded multipart", "", nil, nil, "m.dmp"},
		{"chunked sentry fields", "", nil, nil, "m.dmp"},
		{"not a minidump", "application/octet-stream", []byte("ELF\x7f....."), ErrInvalid, ""},
		{"no minidump field", "", nil, ErrMissing, ""},
		{"corrupt gzip", "application/octet-stream", append([]byte{0x1f, 0x8b}, "garbage"...), ErrInvalid, ""},
		{"form without boundary", "multipart/form-data", electron, ErrForm, ""},
		{"json body", "application/json", []byte(`{}`), ErrForm, ""},
		{"truncated form", ect, electron[:len(electron)-20], ErrForm, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, ct := tt.body, tt.contentType
			switch tt.name {
			case "zstd in a form":
				body, ct = form(t, part{name: FieldName, filename: "m.dmp.zst", data: zst(dump)})
			case "bzip2 in a form":
				body, ct = form(t, part{name: FieldName, filename: "m.dmp.bz2", data: bz2})
			case "embedded multipart":
				inner, ict := form(t, part{name: FieldName, filename: "inner.dmp", data: dump})
				if !strings.Contains(ict, "boundary=") {
					t.Fatal(ict)
				}
				body, ct = form(t, part{name: FieldName, filename: "m.dmp", data: inner})
			case "chunked sentry fields":
				body, ct = form(t, part{name: "sentry__2", data: []byte(`"rel-2"}`)}, part{name: "sentry__1", data: []byte(`{"release":`)},
					part{name: FieldName, filename: "m.dmp", data: dump})
			case "no minidump field":
				body, ct = form(t, part{name: "other", filename: "x.txt", data: []byte("x")})
			}
			u, err := Parse(body, ct)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.Files[0].Name != tt.fileName || u.Files[0].AttachmentType != TypeMinidump ||
				!bytes.HasPrefix(u.Files[0].Data, []byte("MDMP")) && !bytes.HasPrefix(u.Files[0].Data, []byte("PMDM")) {
				t.Fatalf("minidump file %+v", u.Files[0].Name)
			}
			if len(u.EventID) != 32 {
				t.Fatalf("event id %q", u.EventID)
			}
			if tt.name == "chunked sentry fields" && decodeEvent(t, u)["release"] != "rel-2" {
				t.Errorf("chunks not assembled: %s", u.Event)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	var parts []part
	for i := 0; i <= MaxFiles; i++ {
		parts = append(parts, part{name: "f", filename: "f.txt", data: []byte("x")})
	}
	body, ct := form(t, parts...)
	if _, err := Parse(body, ct); !errors.Is(err, ErrTooLarge) {
		t.Errorf("%d files: %v", MaxFiles+1, err)
	}
	body, ct = form(t, part{name: "sentry", data: bytes.Repeat([]byte("x"), MaxFormSize+1)}, part{name: FieldName, filename: "m", data: dump})
	if _, err := Parse(body, ct); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized form: %v", err)
	}
	// A gzip bomb: 300 KiB that inflate past the limit.
	bomb := gz(append(append([]byte{}, dump...), make([]byte, MaxFileSize)...))
	if _, err := Parse(bomb, "application/octet-stream"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("gzip bomb: %v", err)
	}
	body, ct = form(t, part{name: "sentry", data: []byte(`{"event_id":"nope"}`)}, part{name: FieldName, filename: "m", data: dump})
	if _, err := Parse(body, ct); !errors.Is(err, ErrForm) {
		t.Errorf("bad event id: %v", err)
	}
}

// FuzzParse checks that any body and content type give an upload or one
// of the package's errors, never a panic, and that an upload always has a
// valid minidump first and a JSON event.
func FuzzParse(f *testing.F) {
	body, ct := form(f, part{name: "sentry", data: []byte(`{"release":"r"}`)}, part{name: "sentry[tags][a]", data: []byte("b")},
		part{name: FieldName, filename: "m.dmp", data: dump[:16]})
	f.Add(body, ct)
	f.Add(dump[:16], "application/octet-stream")
	f.Add(gz(dump[:16]), "application/x-dmp")
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		u, err := Parse(body, ct)
		if err != nil {
			for _, e := range []error{ErrMissing, ErrInvalid, ErrForm, ErrTooLarge} {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("unexpected error %v", err)
		}
		if len(u.Files) == 0 || u.Files[0].AttachmentType != TypeMinidump || len(u.EventID) != 32 || !json.Valid(u.Event) {
			t.Fatalf("bad upload: %d files, id %q", len(u.Files), u.EventID)
		}
	})
}
