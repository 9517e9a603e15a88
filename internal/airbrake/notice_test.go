package airbrake

import (
	"errors"
	"strings"
	"testing"
)

func TestParseNoticeRefusals(t *testing.T) {
	deep := strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)
	big := `{"errors":[{"type":"E","message":"` + strings.Repeat("x", MaxNoticeSize) + `"}]}`
	cases := []struct {
		name, body string
		want       error
	}{
		{"empty body", ``, ErrInvalid},
		{"not JSON", `errors=1`, ErrInvalid},
		{"truncated", `{"errors":[{"type":"E"`, ErrInvalid},
		{"trailing data", `{"errors":[{"type":"E"}]} {}`, ErrInvalid},
		{"array", `[{"type":"E"}]`, ErrInvalid},
		{"string", `"boom"`, ErrInvalid},
		{"no errors", `{"context":{}}`, ErrInvalid},
		{"empty errors", `{"errors":[]}`, ErrInvalid},
		{"errors not objects", `{"errors":[1,"x",null]}`, ErrInvalid},
		{"errors a string", `{"errors":"boom"}`, ErrInvalid},
		{"invalid UTF-8", "{\"errors\":[{\"type\":\"\xff\"}]}", ErrInvalid},
		{"too deep", `{"errors":[{"type":"E"}],"params":` + deep + `}`, ErrInvalid},
		{"too large", big, ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := ParseNotice([]byte(c.body))
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v (notice %+v)", err, c.want, n)
			}
		})
	}
}

// Notifiers disagree on types; a notice is not refused for a field of an
// unexpected shape, the field is read as well as it can be.
func TestParseNoticeLenient(t *testing.T) {
	n, err := ParseNotice([]byte(`{
		"errors": {"type": 42, "message": true, "backtrace": [
			{"file": "a.rb", "line": "17", "column": 3.0, "function": null, "code": {"17": "x", "bad": "y", "16": 5}},
			"b.rb:3:in 'm'",
			{"line": -4},
			{"file": "c.rb", "line": "x", "column": 1e300},
			7
		]},
		"context": "not an object",
		"params": [1, 2]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Errors) != 1 {
		t.Fatalf("errors = %+v", n.Errors)
	}
	e := n.Errors[0]
	if e.Type != "42" || e.Message != "true" {
		t.Errorf("type %q message %q", e.Type, e.Message)
	}
	want := []Frame{
		{File: "a.rb", Line: 17, Column: 3, Code: map[int64]string{17: "x"}},
		{File: "b.rb:3:in 'm'"},
		{File: "c.rb"},
	}
	if len(e.Backtrace) != len(want) {
		t.Fatalf("backtrace = %+v", e.Backtrace)
	}
	for i, w := range want {
		g := e.Backtrace[i]
		if g.File != w.File || g.Line != w.Line || g.Column != w.Column || len(g.Code) != len(w.Code) || g.Code[17] != w.Code[17] {
			t.Errorf("frame %d = %+v, want %+v", i, g, w)
		}
	}
	if n.Context != nil {
		t.Errorf("context = %v", n.Context)
	}
	ev := n.Event()
	if ev.Exception == nil || ev.Exception.Values[0].Type != "42" {
		t.Errorf("event exception = %+v", ev.Exception)
	}
	if string(ev.Extra["params"]) != `[1, 2]` {
		t.Errorf("params = %s", ev.Extra["params"])
	}
}

func TestParseNoticeXMLRefusals(t *testing.T) {
	deep := strings.Repeat("<a>", MaxDepth+1) + strings.Repeat("</a>", MaxDepth+1)
	cases := []struct{ name, body string }{
		{"empty", ``},
		{"not XML", `{"errors":[]}`},
		{"wrong root", `<error><class>E</class></error>`},
		{"no error", `<notice version="2.3"><api-key>k</api-key></notice>`},
		{"unclosed", `<notice><error><class>E</class></error>`},
		{"mismatched", `<notice><error></notice></error>`},
		{"two roots", `<notice><error/></notice><notice/>`},
		{"too deep", `<notice><error/>` + deep + `</notice>`},
		{"undefined entity", `<!DOCTYPE n [<!ENTITY x "boom">]><notice><error><class>&x;</class></error></notice>`},
		{"too many elements", `<notice><error/>` + strings.Repeat("<v/>", maxXMLElements) + `</notice>`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if n, err := ParseNoticeXML([]byte(c.body)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid (notice %+v)", err, n)
			}
		})
	}
	if _, err := ParseNoticeXML([]byte("<notice>" + strings.Repeat(" ", MaxNoticeSize) + "</notice>")); !errors.Is(err, ErrTooLarge) {
		t.Errorf("large: err = %v, want ErrTooLarge", err)
	}
}

func TestParseNoticeXML(t *testing.T) {
	n, err := ParseNoticeXML([]byte(`<?xml version="1.0"?>
<notice version="2.2">
  <api-key> KEY1 </api-key>
  <error>
    <class>NoMethodError</class>
    <message>NoMethodError: undefined method 'x' for nil &amp; more</message>
    <backtrace><line number="9" file="[PROJECT_ROOT]/app/a.rb" method="go"/><line number="zz" file="b.rb"/><other/></backtrace>
  </error>
  <request><params><var key="a"><var key="b">1</var></var><var key="c"/></params></request>
</notice>`))
	if err != nil {
		t.Fatal(err)
	}
	if n.APIKey != "KEY1" || n.Version != "2.2" {
		t.Errorf("key %q version %q", n.APIKey, n.Version)
	}
	e := n.Errors[0]
	if e.Type != "NoMethodError" || e.Message != "undefined method 'x' for nil & more" {
		t.Errorf("error %q %q", e.Type, e.Message)
	}
	if len(e.Backtrace) != 2 || e.Backtrace[0].Line != 9 || e.Backtrace[0].Function != "go" || e.Backtrace[1].Line != 0 {
		t.Errorf("backtrace %+v", e.Backtrace)
	}
	if string(n.Params) != `{"a":{"b":"1"},"c":""}` {
		t.Errorf("params %s", n.Params)
	}
}

func TestParseDeploy(t *testing.T) {
	d, err := ParseDeploy([]byte(`{"environment":"production","username":"john","email":"john@smith.com",` +
		`"repository":"https://github.com/airbrake/airbrake","revision":"38748467ea579e7ae64f7815452307c9d05e05c5","version":"v2.0"}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Release() != "v2.0" || d.Environment != "production" || d.Username != "john" || d.Revision == "" {
		t.Errorf("deploy %+v", d)
	}
	d, err = ParseDeploy([]byte(`{"environment":"staging","revision":"abc123"}`))
	if err != nil || d.Release() != "abc123" {
		t.Errorf("revision only: %+v, %v", d, err)
	}
	for _, bad := range []string{``, `[]`, `{}`, `{"environment":"production"}`, `{"version":` + strings.Repeat("[", MaxDepth+1)} {
		if _, err := ParseDeploy([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := ParseDeploy([]byte(`{"version":"` + strings.Repeat("v", MaxDeploySize) + `"}`)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("large: err = %v", err)
	}
}
