package notify

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/alert"
)

// Action ids.
const (
	ActionEmail   = "sentry.mail.actions.NotifyEmailAction"
	ActionService = "sentry.rules.actions.notify_event_service.NotifyEventServiceAction"
	ActionSlack   = "faultline.actions.slack"
	ActionDiscord = "faultline.actions.discord"
	ActionTeams   = "faultline.actions.teams"
)

// E-mail target types.
const (
	TargetIssueOwners = "IssueOwners"
	TargetTeam        = "Team"
	TargetMember      = "Member"
)

// Action is the part of a rule action the sender reads.
type Action struct {
	ID               string `json:"id"`
	TargetType       string `json:"targetType"`
	TargetIdentifier string `json:"-"`
	Service          string `json:"service"`
	WebhookURL       string `json:"webhookUrl"`
}

// parseAction reads an action; targetIdentifier may be a number, a string
// or null in Sentry's JSON.
func parseAction(raw json.RawMessage) Action {
	var a Action
	var ti struct {
		T json.RawMessage `json:"targetIdentifier"`
	}
	json.Unmarshal(raw, &a)  //nolint:errcheck // an unreadable action has no id and is skipped
	json.Unmarshal(raw, &ti) //nolint:errcheck
	s := strings.TrimSpace(string(ti.T))
	if s != "" && s != "null" {
		if uq, err := strconv.Unquote(s); err == nil {
			s = uq
		}
		a.TargetIdentifier = s
	}
	return a
}

// triggerText says what fired, for titles.
func triggerText(t string) string {
	switch t {
	case "new_issue":
		return "New issue"
	case "regression":
		return "Regression"
	case "reappeared":
		return "Issue reappeared"
	case "frequency":
		return "Issue frequency"
	case "test":
		return "Test notification"
	}
	return "Alert"
}

func levelColor(level string) (hex string, n int) {
	switch level {
	case "fatal":
		return "#d20f2a", 0xd20f2a
	case "error":
		return "#e03e2f", 0xe03e2f
	case "warning":
		return "#f5b000", 0xf5b000
	case "info":
		return "#2788ce", 0x2788ce
	}
	return "#8d8d8d", 0x8d8d8d
}

func issueTitle(f *alert.Fired) string {
	if f.Issue.Title != "" {
		return f.Issue.Title
	}
	return f.Issue.Message
}

// context lines shown by chat messages.
func facts(f *alert.Fired, p ProjectInfo) [][2]string {
	var out [][2]string
	add := func(k, v string) {
		if v != "" {
			out = append(out, [2]string{k, v})
		}
	}
	add("Project", p.Slug)
	add("Issue", f.Issue.ShortID)
	add("Culprit", f.Issue.Culprit)
	add("Environment", f.Issue.Environment)
	add("Release", f.Issue.Release)
	add("Level", f.Issue.Level)
	// Counts only when the firing carries them (the workers don't read
	// an issue's totals to fire a rule).
	if f.Issue.TimesSeen > 0 {
		add("Events", strconv.FormatUint(f.Issue.TimesSeen, 10))
	}
	if f.Issue.Users > 0 {
		add("Users", strconv.FormatUint(f.Issue.Users, 10))
	}
	add("Rule", f.RuleName)
	return out
}

func framesText(f *alert.Fired, n int) string {
	var b strings.Builder
	for i, fr := range f.Issue.Frames {
		if i == n {
			break
		}
		fmt.Fprintf(&b, "%s in %s line %d\n", fr.Function, fr.Filename, fr.LineNo)
	}
	return strings.TrimRight(b.String(), "\n")
}

// slackBody is Slack's incoming-webhook message with one attachment
// (Slack's legacy attachments, which Mattermost also renders).
func slackBody(f *alert.Fired, p ProjectInfo) any {
	color, _ := levelColor(f.Issue.Level)
	fields := []map[string]any{}
	for _, kv := range facts(f, p) {
		fields = append(fields, map[string]any{"title": kv[0], "value": escapeSlack(kv[1]), "short": true})
	}
	text := escapeSlack(f.Issue.Culprit)
	if fr := framesText(f, 3); fr != "" {
		text += "\n```" + escapeSlack(fr) + "```"
	}
	// Slack (and Mattermost) read &, < and > as markup in every text.
	title := escapeSlack(issueTitle(f))
	return map[string]any{
		"text": triggerText(f.Trigger) + ": " + title,
		"attachments": []map[string]any{{
			"fallback":   "[" + escapeSlack(f.Issue.ShortID) + "] " + title,
			"title":      title,
			"title_link": f.Issue.URL,
			"text":       text,
			"color":      color,
			"fields":     fields,
			"footer":     "Faultline · " + f.Issue.ShortID,
			"ts":         f.At.Unix(),
			"mrkdwn_in":  []string{"text"},
		}},
	}
}

// escapeSlack escapes the three characters Slack's message text treats
// as control characters.
func escapeSlack(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// discordBody is Discord's execute-webhook body with one embed. Discord's
// limits: a title of 256 characters, a description of 4096, 25 fields.
func discordBody(f *alert.Fired, p ProjectInfo) any {
	_, color := levelColor(f.Issue.Level)
	fields := []map[string]any{}
	for _, kv := range facts(f, p) {
		fields = append(fields, map[string]any{"name": kv[0], "value": clip(kv[1], 1024), "inline": true})
	}
	desc := f.Issue.Culprit
	if fr := framesText(f, 3); fr != "" {
		desc += "\n```\n" + fr + "\n```"
	}
	return map[string]any{
		"content": clip(triggerText(f.Trigger)+": "+issueTitle(f), 2000),
		"allowed_mentions": map[string]any{
			"parse": []string{},
		},
		"embeds": []map[string]any{{
			"title":       clip(issueTitle(f), 256),
			"url":         f.Issue.URL,
			"description": clip(desc, 4096),
			"color":       color,
			"fields":      fields,
			"timestamp":   f.At.UTC().Format(time.RFC3339),
			"footer":      map[string]any{"text": "Faultline"},
		}},
	}
}

// teamsBody is a message for a Teams Workflows webhook ("Post to a
// channel when a webhook request is received"): one Adaptive Card.
func teamsBody(f *alert.Fired, p ProjectInfo) any {
	factList := []map[string]any{}
	for _, kv := range facts(f, p) {
		factList = append(factList, map[string]any{"title": kv[0], "value": kv[1]})
	}
	body := []map[string]any{
		{"type": "TextBlock", "text": triggerText(f.Trigger), "weight": "Bolder", "size": "Medium"},
		{"type": "TextBlock", "text": issueTitle(f), "wrap": true},
		{"type": "FactSet", "facts": factList},
	}
	if fr := framesText(f, 3); fr != "" {
		body = append(body, map[string]any{"type": "TextBlock", "text": fr, "wrap": true, "fontType": "Monospace"})
	}
	return map[string]any{
		"type": "message",
		"attachments": []map[string]any{{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content": map[string]any{
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
				"type":    "AdaptiveCard",
				"version": "1.4",
				"body":    body,
				"actions": []map[string]any{{"type": "Action.OpenUrl", "title": "View issue", "url": f.Issue.URL}},
			},
		}},
	}
}

// ProjectInfo names a project in webhook bodies.
type ProjectInfo struct {
	Slug, Name string
}

// webhookBody is the body of Sentry's legacy WebHooks plugin, so that
// receivers written for Sentry keep working, plus the idempotency key.
func webhookBody(f *alert.Fired, p ProjectInfo) any {
	ev := map[string]any{}
	if len(f.Event) > 0 {
		json.Unmarshal(f.Event, &ev) //nolint:errcheck // an unreadable event is sent as {}
	}
	if ev == nil {
		ev = map[string]any{}
	}
	ev["event_id"] = f.EventID
	ev["id"] = f.EventID
	if _, ok := ev["message"]; !ok {
		ev["message"] = f.Issue.Message
	}
	if _, ok := ev["tags"]; !ok {
		ev["tags"] = [][2]string{}
	}
	logger := f.Issue.Logger
	if logger == "" {
		logger = stringOf(ev["logger"])
	}
	rules := []string{}
	if f.RuleName != "" {
		rules = append(rules, f.RuleName)
	}
	return map[string]any{
		"id":               strconv.FormatUint(f.GroupID, 10),
		"project":          p.Slug,
		"project_name":     p.Name,
		"project_slug":     p.Slug,
		"logger":           nilIfEmpty(logger),
		"level":            f.Issue.Level,
		"culprit":          f.Issue.Culprit,
		"message":          f.Issue.Message,
		"url":              withReferrer(f.Issue.URL),
		"triggering_rules": rules,
		"event":            ev,
		"idempotency_key":  f.Key,
		"trigger":          f.Trigger,
	}
}

func withReferrer(u string) string {
	if u == "" {
		return u
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "referrer=webhooks_plugin"
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
