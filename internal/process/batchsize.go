package process

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Batches grow while the queue is deep, within a byte budget.
//
// Each batch writes a part per table and materialized view (several per
// batch, ~20 ms of file creation each on chDB), so a backlog drains faster
// in bigger batches; but a batch is held in memory twice over (the one
// being decoded while the one before is inserted), so its size must be
// bounded in bytes, not only in messages: a thousand 1 MiB events are a
// gigabyte. The sizer asks for Config.BatchSize messages while the queue
// keeps up, doubles the count after each full fetch (the queue is deep),
// never past what Config.MaxBatchBytes holds at the sizes just seen, nor
// past Config.MaxBatchSize messages (a batch must be stored well within
// AckWait, however small its events), and falls back to BatchSize as soon
// as a fetch comes back short.

// DefaultMaxBatchSize is --batch-max-size's default: 8 times the default
// --batch-size.
const DefaultMaxBatchSize = 8000

// itemOverhead is what a decoded event holds besides its strings: the
// row's and the fixed fields, slices and maps (an estimate).
const itemOverhead = 1 << 10

// DefaultMaxBatchBytes is --worker-max-batch-bytes' default: the decoded
// events of one batch (two are in memory at once).
const DefaultMaxBatchBytes = 48 << 20

// batchSizer chooses how many messages the next fetch asks for. It is used
// by the one goroutine that fetches.
type batchSizer struct {
	base   int   // Config.BatchSize
	most   int   // Config.MaxBatchSize, at least base
	budget int64 // Config.MaxBatchBytes
	n      int   // the next fetch's count
}

func newBatchSizer(base, most int, budget int64) *batchSizer {
	return &batchSizer{base: base, most: max(most, base), budget: budget, n: base}
}

// next is the number of messages to fetch.
func (s *batchSizer) next() int { return s.n }

// observe adapts the count after a fetch that asked for asked messages,
// got got, which decoded to bytes.
func (s *batchSizer) observe(asked, got int, bytes int64) {
	n := s.base
	if got > 0 && got >= asked {
		n = min(2*asked, s.most)
	}
	if got > 0 && bytes > 0 {
		per := max(bytes/int64(got), 1)
		n = int(min(int64(n), max(s.budget/per, 1)))
	}
	s.n = max(n, 1)
}

// decodedBytes estimates the memory of a decoded message's events.
func decodedBytes(d *decoded) int64 {
	var n int64
	for i := range d.events {
		r := &d.events[i].row
		n += itemOverhead + int64(len(r.Body)+len(r.Message)+len(r.Title)+len(r.Culprit)+
			len(r.ExceptionValue)+len(r.Transaction))
		for j := range r.TagKeys {
			n += int64(len(r.TagKeys[j]) + len(r.TagValues[j]))
		}
	}
	for i := range d.reports {
		n += itemOverhead + int64(len(d.reports[i].Comments))
	}
	return n
}

// preparedBytes sums the decoded bytes of a fetch's batches.
func preparedBytes(parts []*prepared) int64 {
	var n int64
	for _, p := range parts {
		n += p.bytes
	}
	return n
}

// keepInProgress tells JetStream, every third of AckWait, that the
// messages are still being worked on, until the returned stop is called:
// a big batch written on a busy machine may take longer than AckWait, and
// its messages must not be delivered again (to be processed one by one)
// while it is being written.
func (w *Worker) keepInProgress(msgs []jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(max(w.cfg.AckWait/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, m := range msgs {
					m.InProgress() //nolint:errcheck // at worst, a redelivery, which is deduplicated
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
