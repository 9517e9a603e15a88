package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/store"
)

func mutationOf(body string) (*mutation, error) {
	r := httptest.NewRequest(http.MethodPut, "/", strings.NewReader(body))
	return parseMutation(r, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

// TestParseMutation: Sentry's and sentry-cli's mutation bodies, what is
// stored and the activity each records.
func TestParseMutation(t *testing.T) {
	for _, c := range []struct {
		body                                       string
		status, substatus, details, activity, data string
		err                                        string
	}{
		{body: `{"status":"resolved","snoozeDuration":null}`, status: "resolved", details: `{}`, activity: "set_resolved", data: `{}`},
		{body: `{"status":"resolvedInNextRelease"}`, status: "resolved", details: `{"inNextRelease":true}`,
			activity: "set_resolved_in_release", data: `{"version":""}`},
		{body: `{"statusDetails":{"inRelease":"1.2"}}`, status: "resolved", details: `{"inRelease":"1.2"}`,
			activity: "set_resolved_in_release", data: `{"version":"1.2"}`},
		{body: `{"status":"unresolved","statusDetails":{"ignoreCount":3}}`, status: "unresolved", substatus: "ongoing",
			details: `{}`, activity: "set_unresolved", data: `{}`},
		{body: `{"status":"muted","snoozeDuration":null}`, status: "ignored", substatus: "archived_forever", details: `{}`,
			activity: "set_ignored", data: `{}`},
		{body: `{"status":"muted","snoozeDuration":30}`, status: "ignored", substatus: "archived_until_condition_met",
			details: `{"ignoreUntil":"2026-01-02T03:34:05Z"}`, activity: "set_ignored",
			data: `{"ignoreDuration":30,"ignoreUntil":"2026-01-02T03:34:05Z"}`},
		{body: `{"status":"ignored","statusDetails":{"ignoreCount":5,"ignoreWindow":60}}`, status: "ignored",
			substatus: "archived_until_condition_met", details: `{"ignoreCount":5,"ignoreWindow":60}`, activity: "set_ignored",
			data: `{"ignoreCount":5,"ignoreWindow":60}`},
		{body: `{"status":"muted","snoozeDuration":0}`, err: "statusDetails.ignoreDuration: must be between 1 and 52704000"},
		{body: `{"isBookmarked":"yes"}`, err: "isBookmarked: Must be a valid boolean."},
		{body: `{"assignedTo":["x"]}`, err: "assignedTo: Unknown actor input"},
		{body: `{"assignedTo":-1}`, err: "assignedTo: Unknown actor input"},
		{body: `{"merge":"yes","status":"resolved"}`, err: "merge: Must be a valid boolean."},
		{body: `{"discard":2}`, err: "discard: Must be a valid boolean."},
		{body: `{"isPublic":true}`, err: "isPublic: not supported yet."},
		{body: `{}`, err: "status: This field is required."},
		{body: `{"status":"gone"}`, err: `status: "gone" is not a valid choice.`},
		{body: `{"statusDetails":{"inRelease":"` + strings.Repeat("x", 201) + `"}}`, err: "statusDetails.inRelease: at most 200 characters"},
	} {
		m, err := mutationOf(c.body)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%s: error %v, want %q", c.body, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.body, err)
			continue
		}
		data, _ := json.Marshal(m.activityData)
		if m.status != c.status || m.substatus != c.substatus || m.detailsJSON != c.details || m.activity != c.activity || string(data) != c.data {
			t.Errorf("%s: %s/%s %s %s %s, want %s/%s %s %s %s", c.body, m.status, m.substatus, m.detailsJSON, m.activity, data,
				c.status, c.substatus, c.details, c.activity, c.data)
		}
	}
}

// FuzzParseMutation: any body is refused with a client error or becomes
// a valid status with JSON details and an activity.
// TestParseWorkflow: the workflow fields alone change no status; with a
// status, both.
func TestParseWorkflow(t *testing.T) {
	for _, c := range []struct {
		body, status, assign string
		assignSet            bool
		bookmark, see        *bool
	}{
		{body: `{"assignedTo":"user:3"}`, assign: "user:3", assignSet: true},
		{body: `{"assignedTo":7}`, assign: "7", assignSet: true},
		{body: `{"assignedTo":null}`, assignSet: true},
		{body: `{"assignedTo":" a@example.com "}`, assign: "a@example.com", assignSet: true},
		{body: `{"isBookmarked":true,"hasSeen":false}`, bookmark: ptr(true), see: ptr(false)},
		{body: `{"isBookmarked":false,"status":"resolved"}`, status: "resolved", bookmark: ptr(false)},
	} {
		m, err := mutationOf(c.body)
		if err != nil {
			t.Errorf("%s: %v", c.body, err)
			continue
		}
		w := m.workflow
		if m.status != c.status || w.assign != c.assign || w.assignSet != c.assignSet ||
			(w.bookmark == nil) != (c.bookmark == nil) || w.bookmark != nil && *w.bookmark != *c.bookmark ||
			(w.see == nil) != (c.see == nil) || w.see != nil && *w.see != *c.see {
			t.Errorf("%s: status %q, workflow %+v", c.body, m.status, w)
		}
	}
}

func FuzzParseMutation(f *testing.F) {
	for _, s := range []string{`{"status":"muted","snoozeDuration":30}`, `{"status":"resolvedInNextRelease"}`,
		`{"statusDetails":{"inRelease":"1.0","ignoreUntil":"2026-01-01T00:00:00"}}`, `{"ignoreCount":1,"ignoreUserWindow":5}`,
		`[]`, `null`, `{"status":"ignored","statusDetails":null,"substatus":"x"}`, `{"assignedTo":"team:1","hasSeen":true}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		m, err := mutationOf(body)
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Status >= 500 {
				t.Fatalf("%q: %v", body, err)
			}
			return
		}
		if m.status == "" && m.workflow.any() {
			return // a workflow change alone
		}
		switch m.status {
		case store.StatusResolved, store.StatusUnresolved, store.StatusIgnored:
		default:
			t.Fatalf("%q: status %q", body, m.status)
		}
		var d store.StatusDetails
		if json.Unmarshal([]byte(m.detailsJSON), &d) != nil || m.activity == "" {
			t.Fatalf("%q: %+v", body, m)
		}
		if _, err := json.Marshal(m.answer()); err != nil {
			t.Fatal(err)
		}
	})
}
