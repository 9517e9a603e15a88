package airbrake

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/grouping"
)

func seed(f *testing.F, glob string) {
	files, err := filepath.Glob(glob)
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkNotice holds for any notice a parser accepted: it converts to an
// event that has an exception or a message, that encodes, decodes back and
// groups, which is what the worker does with it.
func checkNotice(t *testing.T, n *Notice, err error) {
	if err != nil {
		if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error wraps neither ErrInvalid nor ErrTooLarge: %v", err)
		}
		return
	}
	if len(n.Errors) == 0 {
		t.Fatal("accepted a notice without errors")
	}
	e := n.Event()
	if e.Exception == nil && e.LogEntry == nil {
		t.Fatalf("event has neither an exception nor a message: %+v", e)
	}
	b, err := event.Encode(e)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	back, err := event.Decode(b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if len(back.Errors) > 0 {
		t.Fatalf("re-decoding dropped fields %+v of %s", back.Errors, b)
	}
	if r := grouping.Compute(back); len(r.Hash) != 32 {
		t.Fatalf("hash %q", r.Hash)
	}
}

func FuzzParseNotice(f *testing.F) {
	seed(f, "testdata/notices/*.json")
	f.Add([]byte(`{"errors":[{"type":"E","backtrace":[{"file":"[PROJECT_ROOT]/a","line":"1","code":{"1":"x"}}]}],"context":{"language":"go1.22","component":"a/b"}}`))
	f.Add([]byte(`{"errors":{"message":"m"},"context":{"notifier":{"name":"airbrake-js/node"},"rootDirectory":"/"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseNotice(b)
		checkNotice(t, n, err)
	})
}

func FuzzParseNoticeXML(f *testing.F) {
	seed(f, "testdata/notices/*.xml")
	f.Add([]byte(`<notice><error><class>E</class><backtrace><line number="1" file="f" method="m"/></backtrace></error><request><params><var key="a"><var key="b">c</var></var></params></request></notice>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseNoticeXML(b)
		checkNotice(t, n, err)
	})
}

func FuzzParseDeploy(f *testing.F) {
	f.Add([]byte(`{"environment":"production","username":"john","revision":"abc","version":"v2.0"}`))
	f.Add([]byte(`{"revision":12}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDeploy(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error wraps neither ErrInvalid nor ErrTooLarge: %v", err)
			}
			return
		}
		if d.Release() == "" {
			t.Fatalf("accepted a deploy without a release: %+v", d)
		}
	})
}
