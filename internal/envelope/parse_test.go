package envelope

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const testHeader = `{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://e12d836b15bb49d7bbf99e64295d995b:@sentry.io/42"}`

type wantItem struct {
	typ     string
	length  int
	payload string
}

func TestParse(t *testing.T) {
	bin := "\x00\x01\n\n\xff{\"type\":\"event\"}\n\r\n"
	tests := []struct {
		name  string
		in    string
		items []wantItem
	}{
		{"header only", testHeader, nil},
		{"header only newline", testHeader + "\n", nil},
		{"empty header", "{}", nil},
		{"leading whitespace", " \n" + testHeader + "\n", nil},
		{
			"with length, trailing newline",
			testHeader + "\n" + `{"type":"event","length":41,"content_type":"application/json"}` + "\n" + `{"message":"hello world","level":"error"}` + "\n",
			[]wantItem{{"event", 41, `{"message":"hello world","level":"error"}`}},
		},
		{
			"with length, no trailing newline",
			testHeader + "\n" + `{"type":"event","length":41}` + "\n" + `{"message":"hello world","level":"error"}`,
			[]wantItem{{"event", 41, `{"message":"hello world","level":"error"}`}},
		},
		{
			"without length, trailing newline",
			testHeader + "\n" + `{"type":"attachment"}` + "\nhelloworld\n",
			[]wantItem{{"attachment", -1, "helloworld"}},
		},
		{
			"without length, no trailing newline",
			testHeader + "\n" + `{"type":"attachment"}` + "\nhelloworld",
			[]wantItem{{"attachment", -1, "helloworld"}},
		},
		{
			"implicit length, empty at EOF",
			testHeader + "\n" + `{"type":"attachment"}`,
			[]wantItem{{"attachment", -1, ""}},
		},
		{
			"implicit length, empty payload line",
			testHeader + "\n" + `{"type":"attachment"}` + "\n\n" + `{"type":"event"}` + "\n{}",
			[]wantItem{{"attachment", -1, ""}, {"event", -1, "{}"}},
		},
		{
			"zero length items with newline",
			testHeader + "\n" + `{"type":"attachment","length":0}` + "\n\n" + `{"type":"attachment","length":0}` + "\n",
			[]wantItem{{"attachment", 0, ""}, {"attachment", 0, ""}},
		},
		{
			"zero length items at EOF",
			testHeader + "\n" + `{"type":"attachment","length":0}` + "\n\n" + `{"type":"attachment","length":0}`,
			[]wantItem{{"attachment", 0, ""}, {"attachment", 0, ""}},
		},
		{
			"binary attachment with newlines",
			testHeader + "\n" + fmt.Sprintf(`{"type":"attachment","length":%d,"filename":"a.bin"}`, len(bin)) + "\n" + bin + "\n" + `{"type":"event","length":2}` + "\n{}\n",
			[]wantItem{{"attachment", len(bin), bin}, {"event", 2, "{}"}},
		},
		{
			"crlf inside payload with length",
			testHeader + "\n" + `{"type":"attachment","length":10,"content_type":"text/plain"}` + "\n\xef\xbb\xbfHello\r\n\n" + `{"type":"event","length":2}` + "\n{}\n",
			[]wantItem{{"attachment", 10, "\xef\xbb\xbfHello\r\n"}, {"event", 2, "{}"}},
		},
		{
			"blank lines between items",
			testHeader + "\n" + `{"type":"event"}` + "\n{}\n\n\n  \n" + `{"type":"session"}` + "\n{\"sid\":\"x\"}\n",
			[]wantItem{{"event", -1, "{}"}, {"session", -1, `{"sid":"x"}`}},
		},
		{
			"trailing blank lines tolerated",
			testHeader + "\n" + `{"type":"event"}` + "\n{}\n\n\n",
			[]wantItem{{"event", -1, "{}"}},
		},
		{
			"multi-line header JSON",
			"{\n\"event_id\": \"9ec79c33ec9942ab8353589fcb2e04dc\"\n}\n{\"type\":\n\"event\",\"length\":2}\n{}",
			[]wantItem{{"event", 2, "{}"}},
		},
		{
			"unknown type and null fields",
			testHeader + "\n" + `{"type":"invalid_unknown","length":null,"filename":null,"content_type":null,"extra":{"a":[1]}}` + "\nhelloworld\n",
			[]wantItem{{"invalid_unknown", -1, "helloworld"}},
		},
		{
			"escaped type",
			testHeader + "\n" + `{"type":"ev\u0065nt","length":2}` + "\n{}\n",
			[]wantItem{{"event", 2, "{}"}},
		},
		{
			"many item types",
			testHeader + "\n" + strings.Join([]string{
				`{"type":"transaction"}`, `{}`,
				`{"type":"client_report"}`, `{}`,
				`{"type":"user_report"}`, `{}`,
				`{"type":"feedback"}`, `{}`,
				`{"type":"check_in"}`, `{}`,
				`{"type":"log","item_count":2,"content_type":"application/vnd.sentry.items.log+json"}`, `{"items":[]}`,
				`{"type":"span"}`, `{}`,
				`{"type":"sessions"}`, `{}`,
			}, "\n"),
			[]wantItem{{"transaction", -1, "{}"}, {"client_report", -1, "{}"}, {"user_report", -1, "{}"}, {"feedback", -1, "{}"}, {"check_in", -1, "{}"}, {"log", -1, `{"items":[]}`}, {"span", -1, "{}"}, {"sessions", -1, "{}"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(env.Items) != len(tt.items) {
				t.Fatalf("got %d items, want %d: %+v", len(env.Items), len(tt.items), env.Items)
			}
			for i, w := range tt.items {
				got := env.Items[i]
				if got.Type != w.typ || got.Length != w.length || string(got.Payload) != w.payload {
					t.Errorf("item %d = {%q %d %q}, want {%q %d %q}", i, got.Type, got.Length, got.Payload, w.typ, w.length, w.payload)
				}
				if cap(got.Payload) != len(got.Payload) {
					t.Errorf("item %d payload capacity %d exceeds its length %d", i, cap(got.Payload), len(got.Payload))
				}
			}
			roundTrip(t, env)
		})
	}
}

func TestParseHeader(t *testing.T) {
	env, err := Parse([]byte(`{"event_id":"9EC79C33-EC99-42AB-8353-589FCB2E04DC","dsn":"https://k@h/1","sent_at":"2025-03-14T09:26:13.052871Z","sdk":{"name":"sentry.go","version":"0.46.2","x":[1]},"trace":{"trace_id":"abc"}}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Header{EventID: "9ec79c33ec9942ab8353589fcb2e04dc", DSN: "https://k@h/1", SentAt: "2025-03-14T09:26:13.052871Z", SDK: &SDKInfo{Name: "sentry.go", Version: "0.46.2"}}
	if env.Header.EventID != want.EventID || env.Header.DSN != want.DSN || env.Header.SentAt != want.SentAt || env.Header.SDK == nil || *env.Header.SDK != *want.SDK {
		t.Fatalf("header = %+v (sdk %+v), want %+v", env.Header, env.Header.SDK, want)
	}
	if !bytes.HasPrefix(env.RawHeader, []byte(`{"event_id"`)) || !bytes.HasSuffix(env.RawHeader, []byte(`}}`)) {
		t.Fatalf("raw header = %q", env.RawHeader)
	}

	for _, in := range []string{`{"sdk":"sentry.go"}`, `{"sdk":null}`, `{"sdk":[1]}`} {
		env, err := Parse([]byte(in))
		if err != nil || env.Header.SDK != nil {
			t.Errorf("Parse(%q) = %+v, %v; want no SDK and no error", in, env, err)
		}
	}
	env, err = Parse([]byte(`{"event_id":null,"dsn":null,"sent_at":null,"sdk":{"name":1}}`))
	if err != nil || env.Header != (Header{SDK: env.Header.SDK}) || env.Header.SDK == nil || *env.Header.SDK != (SDKInfo{}) {
		t.Fatalf("nulls: %+v, %v", env, err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"whitespace only", " \n\n", ErrMalformed},
		{"header not object", `["event_id"]`, ErrMalformed},
		{"header not json", "hello\n", ErrMalformed},
		{"header broken", `{"event_id":` + "\n", ErrMalformed},
		{"header junk after", testHeader + " x\n", ErrMalformed},
		{"header space before newline", testHeader + " \n", ErrMalformed},
		{"header crlf", testHeader + "\r\n", ErrMalformed},
		{"header too deep", strings.Repeat(`{"a":`, 129) + "1" + strings.Repeat("}", 129), ErrMalformed},
		{"bad event id", `{"event_id":"nope"}`, ErrInvalidEventID},
		{"event id number", `{"event_id":12}`, ErrInvalidEventID},
		{"dsn not string", `{"dsn":12}`, ErrMalformed},
		{"sent_at not string", `{"sent_at":12}`, ErrMalformed},
		{"item header not json", testHeader + "\nhello\n", ErrMalformed},
		{"item header array", testHeader + "\n[1]\n", ErrMalformed},
		{"item without type", testHeader + "\n" + `{"length":2}` + "\n{}\n", ErrMalformed},
		{"item type null", testHeader + "\n" + `{"type":null}` + "\n{}\n", ErrMalformed},
		{"item type number", testHeader + "\n" + `{"type":1}` + "\n{}\n", ErrMalformed},
		{"negative length", testHeader + "\n" + `{"type":"event","length":-1}` + "\n{}\n", ErrMalformed},
		{"fractional length", testHeader + "\n" + `{"type":"event","length":2.0}` + "\n{}\n", ErrMalformed},
		{"exponent length", testHeader + "\n" + `{"type":"event","length":2e0}` + "\n{}\n", ErrMalformed},
		{"string length", testHeader + "\n" + `{"type":"event","length":"2"}` + "\n{}\n", ErrMalformed},
		{"huge length", testHeader + "\n" + `{"type":"event","length":99999999999999999999}` + "\n{}\n", ErrMalformed},
		{"u32 max length", testHeader + "\n" + `{"type":"event","length":4294967295}` + "\n{}\n", ErrMalformed},
		{"length past end", testHeader + "\n" + `{"type":"event","length":10}` + "\n{}\n", ErrMalformed},
		{"length short of newline", testHeader + "\n" + `{"type":"event","length":1}` + "\n{}\n", ErrMalformed},
		{"item header junk after", testHeader + "\n" + `{"type":"event"} x` + "\n{}\n", ErrMalformed},
		{"filename not string", testHeader + "\n" + `{"type":"attachment","filename":1}` + "\n\n", ErrMalformed},
		{"content_type not string", testHeader + "\n" + `{"type":"attachment","content_type":true}` + "\n\n", ErrMalformed},
		{"attachment_type not string", testHeader + "\n" + `{"type":"attachment","attachment_type":{}}` + "\n\n", ErrMalformed},
		{"garbage item after valid", testHeader + "\n" + `{"type":"event"}` + "\n{}\n" + "garbage", ErrMalformed},
		{"item header too deep", testHeader + "\n" + `{"type":"event","x":` + strings.Repeat("[", 128) + strings.Repeat("]", 128) + "}\n{}", ErrMalformed},
		{"too many sessions", testHeader + "\n" + strings.Repeat(`{"type":"session"}`+"\n{}\n", MaxSessionsPerEnvelope+1), ErrTooLarge},
		{"too many sessions mixed", testHeader + "\n" + strings.Repeat(`{"type":"session"}`+"\n{}\n"+`{"type":"sessions"}`+"\n{}\n", MaxSessionsPerEnvelope/2+1), ErrTooLarge},
		{"too many items", "{}\n" + strings.Repeat(`{"type":"a"}`+"\n\n", maxItemsPerEnvelope+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Parse([]byte(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse = %+v, %v; want %v", env, err, tt.want)
			}
		})
	}
	// Limits that are not exceeded.
	ok := []string{
		testHeader + "\n" + strings.Repeat(`{"type":"session"}`+"\n{}\n", MaxSessionsPerEnvelope),
		"{}\n" + strings.Repeat(`{"type":"a"}`+"\n\n", maxItemsPerEnvelope),
		testHeader + "\n" + `{"type":"event","x":` + strings.Repeat("[", 126) + strings.Repeat("]", 126) + "}\n{}",
	}
	for i, in := range ok {
		if _, err := Parse([]byte(in)); err != nil {
			t.Errorf("ok case %d: %v", i, err)
		}
	}
}

func TestParseTooLarge(t *testing.T) {
	big := make([]byte, MaxEnvelopeSize+1)
	copy(big, "{}\n")
	if _, err := Parse(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Parse(MaxEnvelopeSize+1) = %v, want ErrTooLarge", err)
	}
}

func TestEncode(t *testing.T) {
	items := []Item{
		{Type: "event", RawHeader: []byte(`{"type":"event","length":999,"x":{"y":[1, 2]}}`), Payload: []byte(`{"a":1}`)},
		{Type: "attachment", Filename: "a\"b\n.txt", ContentType: "text/plain", AttachmentType: "event.attachment", Payload: []byte("line1\nline2\n")},
		{Type: "session", RawHeader: []byte("{\n  \"type\" : \"session\"\n}"), Payload: nil},
		{Type: "log", RawHeader: []byte(`not json`), Payload: []byte("x")},
		{Type: "span", RawHeader: []byte(`{"type":"span"} trailing`), Payload: []byte("y")},
	}
	out := Encode([]byte("{ \"event_id\" :\n \"9ec79c33ec9942ab8353589fcb2e04dc\" }"), items...)
	want := `{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}` + "\n" +
		`{"type":"event","x":{"y":[1,2]},"length":7}` + "\n" + `{"a":1}` + "\n" +
		`{"type":"attachment","length":12,"content_type":"text/plain","filename":"a\"b\n.txt","attachment_type":"event.attachment"}` + "\n" + "line1\nline2\n" + "\n" +
		`{"type":"session","length":0}` + "\n\n" +
		`{"type":"log","length":1}` + "\nx\n" +
		`{"type":"span","length":1}` + "\ny\n"
	if string(out) != want {
		t.Fatalf("Encode =\n%s\nwant\n%s", out, want)
	}
	env, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(env.Items) != len(items) {
		t.Fatalf("re-parsed %d items", len(env.Items))
	}
	for i := range items {
		if !bytes.Equal(env.Items[i].Payload, items[i].Payload) || env.Items[i].Type != items[i].Type {
			t.Errorf("item %d: %+v", i, env.Items[i])
		}
	}
	if env.Items[1].Filename != "a\"b\n.txt" {
		t.Errorf("filename = %q", env.Items[1].Filename)
	}
	if got := string(Encode(nil)); got != "{}\n" {
		t.Errorf("Encode(nil) = %q", got)
	}
	if got := string(Encode([]byte("[1]"))); got != "{}\n" {
		t.Errorf("Encode(non-object) = %q", got)
	}
}

// roundTrip checks that Encode of a parsed envelope parses back to the same
// items and header.
func roundTrip(t *testing.T, env *Envelope) {
	t.Helper()
	out := Encode(env.RawHeader, env.Items...)
	env2, err := Parse(out)
	if err != nil {
		t.Fatalf("re-parse of Encode output failed: %v\n%q", err, out)
	}
	if env2.Header.EventID != env.Header.EventID || env2.Header.DSN != env.Header.DSN || env2.Header.SentAt != env.Header.SentAt {
		t.Fatalf("header changed: %+v -> %+v", env.Header, env2.Header)
	}
	if len(env2.Items) != len(env.Items) {
		t.Fatalf("round trip: %d items -> %d", len(env.Items), len(env2.Items))
	}
	for i := range env.Items {
		a, b := env.Items[i], env2.Items[i]
		if a.Type != b.Type || !bytes.Equal(a.Payload, b.Payload) || a.ContentType != b.ContentType ||
			a.Filename != b.Filename || a.AttachmentType != b.AttachmentType || b.Length != len(a.Payload) {
			t.Fatalf("round trip item %d: %+v -> %+v", i, a, b)
		}
	}
}
