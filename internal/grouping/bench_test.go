package grouping_test

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/grouping"
	"github.com/faultline/faultline/internal/process"
	"github.com/faultline/faultline/internal/scrub"
)

// BenchmarkProcessCorpus: decode, normalize, scrub, group and derive, per
// corpus event (the worker's per-event CPU before encoding).
func BenchmarkProcessCorpus(b *testing.B) {
	events := readCorpora(&testing.T{})
	s := scrub.New(scrub.Config{DataScrubber: true, Defaults: true})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ce := events[i%len(events)]
		e, err := event.Decode(ce.Event)
		if err != nil {
			b.Fatal(err)
		}
		process.Prepare(e, process.Source{EventID: strings.Repeat("0", 32), Received: time.Unix(1.8e9, 0)}, s)
		grouping.Compute(e)
		event.Derive(e)
	}
}

// BenchmarkGroupOnly: grouping alone, on already prepared corpus events.
func BenchmarkGroupOnly(b *testing.B) {
	var prepared []*event.Event
	s := scrub.New(scrub.Config{DataScrubber: true, Defaults: true})
	for _, ce := range readCorpora(&testing.T{}) {
		e, _ := event.Decode(ce.Event)
		process.Prepare(e, process.Source{EventID: strings.Repeat("0", 32), Received: time.Unix(1.8e9, 0)}, s)
		prepared = append(prepared, e)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		grouping.Compute(prepared[i%len(prepared)])
	}
}

func BenchmarkNormalizeMessage(b *testing.B) {
	for name, msg := range map[string]string{
		"typical": `Order 1234 for bob@example.com failed after 3.5s (id 550e8400-e29b-41d4-a716-446655440000)`,
		// The worst inputs found: long runs that every pattern could start.
		"hostile-host": strings.Repeat("ab.", 1365),
		"hostile-dash": strings.Repeat("-1", 2048),
	} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			for i := 0; i < b.N; i++ {
				grouping.NormalizeMessage(msg)
			}
		})
	}
}
