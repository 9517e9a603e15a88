// Package alert holds Sentry's issue alert rules: the workers evaluate
// them as events are processed, and each rule that fires for an issue
// hands a Fired to the notification queue (internal/notify), which
// delivers its actions (e-mail, webhooks, Slack...).
package alert

import (
	"encoding/json"
	"time"
)

// Fired is one rule firing for one issue: what the notification queue
// needs to deliver the rule's actions without reading anything else from
// the event store. Key is its idempotency key (rule, issue, trigger and
// window): the same firing, evaluated again after a redelivery, has the
// same key, and is delivered once.
type Fired struct {
	Key string `json:"key"`
	// Trigger is what fired the rule: "new_issue", "regression",
	// "reappeared" (an ignored issue came back), "frequency" (more events
	// or users than N in an interval), or "test" (a test-fire).
	Trigger   string    `json:"trigger"`
	At        time.Time `json:"at"`
	RuleID    string    `json:"ruleId"`
	RuleName  string    `json:"ruleName"`
	OrgID     uint64    `json:"orgId"`
	ProjectID uint64    `json:"projectId"`
	GroupID   uint64    `json:"groupId"`
	// Actions are the rule's actions as configured, in Sentry's JSON
	// ({"id": "sentry.mail.actions.NotifyEmailAction", ...}).
	Actions []json.RawMessage `json:"actions"`
	Issue   Issue             `json:"issue"`
	// Event is the event that fired the rule (for a regression, the one
	// that caused it), as stored: its normalized JSON, bounded by the
	// event size limit.
	EventID string          `json:"eventId"`
	Event   json.RawMessage `json:"event,omitempty"`
}

// Issue is what a notification shows of the issue.
type Issue struct {
	ShortID     string `json:"shortId"`
	Title       string `json:"title"`
	Culprit     string `json:"culprit"`
	Message     string `json:"message"`
	Level       string `json:"level"`
	Platform    string `json:"platform"`
	Environment string `json:"environment"`
	Release     string `json:"release"`
	Logger      string `json:"logger"`
	// URL is the issue's page in the web UI.
	URL       string  `json:"url"`
	TimesSeen uint64  `json:"timesSeen"`
	Users     uint64  `json:"users"`
	Frames    []Frame `json:"frames"` // the top in-app frames, innermost first
}

// Frame is one stack frame shown in a notification.
type Frame struct {
	Filename string `json:"filename"`
	Function string `json:"function"`
	LineNo   int    `json:"lineNo"`
}
