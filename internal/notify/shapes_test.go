package notify

import (
	"encoding/json"
	"os"
	"testing"
)

// TestGoldenShapes checks the golden bodies against what the receivers'
// published documentation requires, so that regenerating the golden files
// with -update cannot silently drop a field a receiver reads.
func TestGoldenShapes(t *testing.T) {
	read := func(name string) map[string]any {
		b, err := os.ReadFile("testdata/" + name + ".golden.json")
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	has := func(name string, m map[string]any, keys ...string) {
		t.Helper()
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: no %q", name, k)
			}
		}
	}
	first := func(v any) map[string]any {
		l, _ := v.([]any)
		if len(l) == 0 {
			return map[string]any{}
		}
		m, _ := l[0].(map[string]any)
		return m
	}
	// Slack's incoming webhooks: legacy attachments (Mattermost renders the same).
	slack := read("slack")
	has("slack", slack, "text", "attachments")
	att := first(slack["attachments"])
	has("slack attachment", att, "fallback", "color", "title", "title_link", "text", "fields", "ts")
	has("slack field", first(att["fields"]), "title", "value", "short")
	// Discord's execute webhook: content and embeds.
	discord := read("discord")
	has("discord", discord, "content", "embeds")
	emb := first(discord["embeds"])
	has("discord embed", emb, "title", "url", "description", "color", "fields", "timestamp")
	has("discord field", first(emb["fields"]), "name", "value", "inline")
	if _, ok := emb["color"].(float64); !ok {
		t.Error("discord: color must be an integer")
	}
	// Teams Workflows: a message with one Adaptive Card attachment.
	teams := read("teams")
	if teams["type"] != "message" {
		t.Errorf("teams: type %v", teams["type"])
	}
	ta := first(teams["attachments"])
	if ta["contentType"] != "application/vnd.microsoft.card.adaptive" {
		t.Errorf("teams: contentType %v", ta["contentType"])
	}
	card, _ := ta["content"].(map[string]any)
	has("teams card", card, "$schema", "type", "version", "body", "actions")
	if card["type"] != "AdaptiveCard" {
		t.Errorf("teams: card type %v", card["type"])
	}
	// Sentry's legacy WebHooks plugin.
	hook := read("hook")
	has("webhook", hook, "id", "project", "project_name", "project_slug", "logger", "level", "culprit", "message", "url", "triggering_rules", "event")
	if _, ok := hook["id"].(string); !ok {
		t.Error("webhook: id must be a string")
	}
	ev, _ := hook["event"].(map[string]any)
	has("webhook event", ev, "id", "event_id", "tags")
}
