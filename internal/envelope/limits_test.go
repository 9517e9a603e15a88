package envelope

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckLimits(t *testing.T) {
	item := func(typ string, size int) Item {
		return Item{Type: typ, Length: size, ItemCount: -1, Payload: make([]byte, size)}
	}
	container := func(typ, ct string, size, count int) Item {
		it := item(typ, size)
		it.ContentType, it.ItemCount = ct, count
		return it
	}
	repeat := func(n int, it Item) []Item {
		out := make([]Item, n)
		for i := range out {
			out[i] = it
		}
		return out
	}
	const logs = "application/vnd.sentry.items.log+json"
	tests := []struct {
		name  string
		items []Item
		over  string // the type named in the error; "" if accepted
	}{
		{"one event", []Item{item("event", 1000)}, ""},
		{"event at the limit", []Item{item("event", MaxEventSize)}, ""},
		{"event over the limit", []Item{item("event", MaxEventSize+1)}, "event"},
		{"two events", []Item{item("event", 10), item("event", 10)}, "event"},
		{"event and transaction", []Item{item("event", 10), item("transaction", 10)}, "transaction"},
		{"event and feedback", []Item{item("event", 10), item("feedback", 10)}, "feedback"},
		{"event with attachments and a session", []Item{item("event", 10), item("attachment", 5000), item("attachment", 10), item("session", 100)}, ""},
		{"30 attachments", repeat(30, item("attachment", 10)), ""},
		{"31 attachments", repeat(31, item("attachment", 10)), "attachment"},
		{"attachment over the limit", []Item{item("attachment", MaxAttachmentSize+1)}, "attachment"},
		{"attachments over the total", []Item{item("attachment", MaxAttachmentsSize/2+1), item("attachment", MaxAttachmentsSize/2)}, "attachment"},
		{"minidump named by its attachment type", []Item{{Type: "attachment", AttachmentType: "event.minidump", Payload: make([]byte, MaxAttachmentSize+1)}}, "event.minidump"},
		{"user reports count as attachments", repeat(31, item("user_report", 10)), "user_report"},
		{"100 sessions", repeat(100, item("session", 100)), ""},
		{"sessions over the total size", []Item{item("sessions", MaxSessionsSize+1)}, "sessions"},
		{"client report over the limit", []Item{item("client_report", MaxClientReportsSize+1)}, "client_report"},
		{"two check-ins", []Item{item("check_in", 10), item("check_in", 10)}, "check_in"},
		{"check-in over the limit", []Item{item("check_in", MaxCheckInSize+1)}, "check_in"},
		{"log container averaged", []Item{container("log", logs, 10<<20, 10)}, ""},
		{"log container over the container size", []Item{container("log", logs, MaxContainerSize+1, 100)}, "log"},
		{"log container with large records", []Item{container("log", logs, 5<<20, 2)}, "log"},
		{"25 legacy spans", repeat(25, item("span", 10)), ""},
		{"26 legacy spans", repeat(26, item("span", 10)), "span"},
		{"unknown types are not limited", []Item{item("something_new", MaxEventSize*3), item("something_new", 10)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckLimits(&Envelope{Items: tt.items})
			if tt.over == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
			if !strings.Contains(err.Error(), "type '"+tt.over+"'") {
				t.Fatalf("err = %v, want it to name %q", err, tt.over)
			}
		})
	}
}

func TestCheckLimitsSanitizesTheTypeName(t *testing.T) {
	env := &Envelope{Items: []Item{
		{Type: "attachment", AttachmentType: "evil\r\nX-Injected: 1" + strings.Repeat("x", 100), Payload: make([]byte, MaxAttachmentSize+1)},
	}}
	err := CheckLimits(env)
	if err == nil || strings.ContainsAny(err.Error(), "\r\n") || strings.Contains(err.Error(), strings.Repeat("x", 70)) {
		t.Fatalf("err = %q", err)
	}
}
