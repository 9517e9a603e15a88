package envelope

import (
	"encoding/json"
	"os"
	"testing"
)

func readTestdata(b *testing.B, name string) []byte {
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkInspectEvent measures the per-event validation cost on the
// ingest path (target: well under 20µs for this ~11 KB event).
func BenchmarkInspectEvent(b *testing.B) {
	data := readTestdata(b, "event_11k.json")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := InspectEvent(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInspectEventStdlib is the baseline InspectEvent replaces:
// encoding/json validation plus unmarshalling the two fields.
func BenchmarkInspectEventStdlib(b *testing.B) {
	data := readTestdata(b, "event_11k.json")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var v struct {
			EventID string `json:"event_id"`
			Type    string `json:"type"`
		}
		if err := json.Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateJSON(b *testing.B) {
	data := readTestdata(b, "event_11k.json")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidateJSON(data, MaxJSONDepth); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"go_event.envelope", "node_event_session.envelope", "attachments.envelope"} {
		b.Run(name, func(b *testing.B) {
			data := readTestdata(b, name)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	data := readTestdata(b, "attachments.envelope")
	env, err := Parse(data)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		Encode(env.RawHeader, env.Items...)
	}
}

func BenchmarkDecode(b *testing.B) {
	data := readTestdata(b, "go_event.envelope")
	for _, c := range []struct{ name, enc, ce string }{
		{"gzip", "gzip", "gzip"},
		{"deflate", "zlib", "deflate"},
		{"br", "br", "br"},
		{"zstd", "zstd", "zstd"},
	} {
		b.Run(c.name, func(b *testing.B) {
			body := compress(b, c.enc, data)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(body, c.ce, MaxEnvelopeSize); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
