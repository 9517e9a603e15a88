package airbrake

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/faultline/faultline/internal/event"
)

// benchNotices are a real @airbrake/node notice (1.8 KB) and a gobrake
// notice (2.2 KB).
func benchNotices(b *testing.B) map[string][]byte {
	raw, err := os.ReadFile("../../e2e/clients/captures/airbrake-node/001.json")
	if err != nil {
		b.Fatal(err)
	}
	var c struct {
		BodyText string `json:"body_text"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		b.Fatal(err)
	}
	gobrake, err := os.ReadFile("testdata/notices/gobrake.json")
	if err != nil {
		b.Fatal(err)
	}
	return map[string][]byte{"node": []byte(c.BodyText), "gobrake": gobrake}
}

// BenchmarkParseNotice is ingest's cost per notice: validation and parsing.
func BenchmarkParseNotice(b *testing.B) {
	for name, body := range benchNotices(b) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := ParseNotice(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNoticeToEvent is the worker's extra cost per notice over a
// Sentry event: parsing, conversion, and encoding the event it stores.
func BenchmarkNoticeToEvent(b *testing.B) {
	for name, body := range benchNotices(b) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				n, err := ParseNotice(body)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := event.Encode(n.Event()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
