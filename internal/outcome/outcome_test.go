package outcome

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

var received = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestClientReport(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name   string
		in     string
		sentAt time.Time
		want   []Record
		err    bool
	}{
		{
			// As @sentry/browser sends it.
			name: "javascript",
			in:   `{"timestamp":1795694370.5,"discarded_events":[{"reason":"before_send","category":"error","quantity":2},{"reason":"sample_rate","category":"transaction","quantity":5}]}`,
			want: []Record{
				{Timestamp: time.Unix(1795694370, 5e8).UTC(), Kind: ClientDiscard, Reason: "before_send", Category: CategoryError, Quantity: 2},
				{Timestamp: time.Unix(1795694370, 5e8).UTC(), Kind: ClientDiscard, Reason: "sample_rate", Category: CategoryTransaction, Quantity: 5},
			},
		},
		{
			name: "all four lists, equal entries summed, RFC 3339 time",
			in: `{"timestamp":"2026-11-26T11:59:00Z",
				"discarded_events":[{"reason":"queue_overflow","category":"session","quantity":1},{"reason":"queue_overflow","category":"session","quantity":2}],
				"rate_limited_events":[{"reason":"","category":"attachment","quantity":1000}],
				"filtered_events":[{"reason":"release-version","category":"error","quantity":1},{"reason":"","category":"error","quantity":9}],
				"filtered_sampling_events":[{"reason":"Sampled:1,2","category":"transaction","quantity":3},{"reason":"nope","category":"transaction","quantity":9}]}`,
			want: []Record{
				{Timestamp: received.Add(-time.Minute), Kind: Filtered, Reason: "release-version", Category: CategoryError, Quantity: 1},
				{Timestamp: received.Add(-time.Minute), Kind: Filtered, Reason: "Sampled:1,2", Category: CategoryTransaction, Quantity: 3},
				{Timestamp: received.Add(-time.Minute), Kind: RateLimited, Reason: "", Category: CategoryAttachment, Quantity: 1000},
				{Timestamp: received.Add(-time.Minute), Kind: ClientDiscard, Reason: "queue_overflow", Category: CategorySession, Quantity: 3},
			},
		},
		{
			name: "unknown categories, long reasons and zero quantities skipped",
			in:   `{"discarded_events":[{"reason":"x","category":"nonsense","quantity":1},{"reason":"` + string(make([]byte, 0)) + `","category":"error","quantity":0},{"reason":"ok","category":"feedback","quantity":1}]}`,
			want: []Record{{Timestamp: received, Kind: ClientDiscard, Reason: "ok", Category: CategoryUserReportV2, Quantity: 1}},
		},
		{
			name:   "clock drift corrected",
			in:     `{"timestamp":"2026-11-25T12:00:00Z","discarded_events":[{"reason":"network_error","category":"error","quantity":1}]}`,
			sentAt: received.Add(-day), // the SDK's clock is a day behind
			want:   []Record{{Timestamp: received, Kind: ClientDiscard, Reason: "network_error", Category: CategoryError, Quantity: 1}},
		},
		{
			name: "too old: dropped whole",
			in:   `{"timestamp":"2026-08-01T00:00:00Z","discarded_events":[{"reason":"x","category":"error","quantity":1}]}`,
			want: []Record{},
		},
		{
			name: "in the future: dropped whole",
			in:   `{"timestamp":"2026-11-26T12:05:00Z","discarded_events":[{"reason":"x","category":"error","quantity":1}]}`,
			want: []Record{},
		},
		{name: "not an object", in: `[1]`, err: true},
		{name: "bad timestamp", in: `{"timestamp":"yesterday"}`, err: true},
		{name: "quantity over u32", in: `{"discarded_events":[{"reason":"x","category":"error","quantity":4294967296}]}`, err: true},
		{name: "empty", in: `{}`, want: []Record{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ClientReport([]byte(tt.in), received, tt.sentAt, 90*day)
			if tt.err {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSessions(t *testing.T) {
	tests := []struct {
		typ, in string
		n       uint64
		reason  string
	}{
		// As @sentry/node 11 sends it.
		{"session", `{"sid":"43ba1870322642838a925e577fbd75ab","init":true,"started":"2026-11-26T23:07:58.607Z","status":"ok","errors":1,"did":"user-42","attrs":{"release":"shop@1.2.3","environment":"test"}}`, 1, ""},
		{"sessions", `{"aggregates":[{"started":"2026-11-26T12:00:00Z","exited":5,"errored":2},{"started":"2026-11-26T12:01:00Z","crashed":1,"abnormal":1,"unhandled":1}],"attrs":{"release":"r1"}}`, 10, ""},
		{"session", `{"sid":"x","attrs":{}}`, 0, ReasonInvalidSession},
		{"sessions", `{"aggregates":[],"attrs":{"release":" "}}`, 0, ReasonInvalidSession},
		{"session", `not json`, 0, ReasonInvalidSession},
		{"sessions", `{"aggregates":[` + repeatJSON(`{"exited":1}`, 101) + `],"attrs":{"release":"r"}}`, 0, ReasonTooLarge},
		{"sessions", `{"aggregates":[` + repeatJSON(`{"exited":1}`, 100) + `],"attrs":{"release":"r"}}`, 100, ""},
		{"event", `{}`, 0, ReasonInvalidSession},
	}
	for _, tt := range tests {
		n, reason, err := Sessions(tt.typ, []byte(tt.in))
		if n != tt.n || reason != tt.reason || (err != nil) != (tt.reason != "") {
			t.Errorf("Sessions(%s, %.60s) = %d, %q, %v; want %d, %q", tt.typ, tt.in, n, reason, err, tt.n, tt.reason)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("error %v is not ErrInvalid", err)
		}
	}
}

func repeatJSON(s string, n int) string {
	out := ""
	for i := 0; i < n; i++ {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}

func TestCorrectDrift(t *testing.T) {
	ts := received.Add(-time.Hour)
	tests := []struct {
		sentAt, want time.Time
	}{
		{time.Time{}, ts},                                     // no sent_at
		{received.Add(-54 * time.Minute), ts},                 // latency, not drift
		{received.Add(-2 * time.Hour), ts.Add(2 * time.Hour)}, // clock behind
		{received.Add(3 * time.Hour), ts.Add(-3 * time.Hour)}, // clock ahead
	}
	for _, tt := range tests {
		if got := CorrectDrift(ts, received, tt.sentAt); !got.Equal(tt.want) {
			t.Errorf("CorrectDrift(sentAt %v) = %v, want %v", tt.sentAt, got, tt.want)
		}
	}
}

func TestNames(t *testing.T) {
	if ClientDiscard.String() != "client_discard" || Accepted.String() != "accepted" || Kind(99).String() != "unknown" {
		t.Fatal("outcome names")
	}
	for name, want := range map[string]Category{"error": 1, "transaction": 2, "security": 3, "attachment": 4, "session": 5, "monitor": 10, "span": 12, "feedback": 14, "log_item": 23, "log_byte": 24} {
		if c, ok := ParseCategory(name); !ok || c != want {
			t.Errorf("ParseCategory(%q) = %d, %v; want %d", name, c, ok, want)
		}
	}
}

// FuzzClientReport checks that any input yields records or ErrInvalid,
// never a panic, and that records are well formed.
func FuzzClientReport(f *testing.F) {
	f.Add([]byte(`{"timestamp":1795694370.5,"discarded_events":[{"reason":"before_send","category":"error","quantity":2}]}`), int64(0))
	f.Add([]byte(`{"timestamp":"2026-11-26T11:59:00Z","rate_limited_events":[{"reason":"","category":"attachment","quantity":1}],"filtered_sampling_events":[{"reason":"Sampled:1","category":"span","quantity":1}]}`), int64(-86400))
	f.Fuzz(func(t *testing.T, data []byte, drift int64) {
		sentAt := received.Add(time.Duration(drift) * time.Second)
		recs, err := ClientReport(data, received, sentAt, 90*24*time.Hour)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		for _, r := range recs {
			if r.Quantity == 0 || len(r.Reason) > MaxReasonLen || r.Kind == Accepted {
				t.Fatalf("bad record %+v", r)
			}
		}
	})
}

// FuzzSessions checks that Sessions never panics and that an error always
// comes with a reason.
func FuzzSessions(f *testing.F) {
	f.Add("session", []byte(`{"sid":"a","attrs":{"release":"r"}}`))
	f.Add("sessions", []byte(`{"aggregates":[{"exited":1}],"attrs":{"release":"r"}}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		n, reason, err := Sessions(typ, data)
		if (err != nil) != (reason != "") || (err != nil && n != 0) {
			t.Fatalf("Sessions = %d, %q, %v", n, reason, err)
		}
	})
}
