package notify

import (
	"encoding/json"
	"testing"

	"github.com/faultline/faultline/internal/alert"
)

// FuzzParseAction: any action JSON a tenant stores parses without a panic,
// and every chat and webhook body built from it encodes as JSON.
func FuzzParseAction(f *testing.F) {
	f.Add([]byte(`{"id":"sentry.mail.actions.NotifyEmailAction","targetType":"Member","targetIdentifier":12}`))
	f.Add([]byte(`{"id":"sentry.mail.actions.NotifyEmailAction","targetType":"Team","targetIdentifier":"3"}`))
	f.Add([]byte(`{"id":"faultline.actions.slack","webhookUrl":"https://hooks.example/x"}`))
	f.Add([]byte(`{"targetIdentifier":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		a := parseAction(json.RawMessage(raw))
		fired := &alert.Fired{Key: a.TargetIdentifier, RuleName: a.WebhookURL, Event: json.RawMessage(raw),
			Issue: alert.Issue{Title: a.ID, Culprit: a.Service, Frames: []alert.Frame{{Function: a.TargetType}}}}
		p := ProjectInfo{Slug: a.TargetType}
		for _, body := range []any{slackBody(fired, p), discordBody(fired, p), teamsBody(fired, p), webhookBody(fired, p)} {
			if _, err := json.Marshal(body); err != nil {
				t.Fatal(err)
			}
		}
		_ = CheckURL(a.WebhookURL)
	})
}
