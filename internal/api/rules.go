package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/alert"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/notify"
)

// RuleMeta stores the projects' alert rules and WebHooks plugin settings.
type RuleMeta interface {
	CreateRule(ctx context.Context, r *meta.Rule) (*meta.Rule, error)
	UpdateRule(ctx context.Context, r *meta.Rule) error
	DeleteRule(ctx context.Context, projectID, id uint64) error
	Rule(projectID, id uint64) (*meta.Rule, bool)
	Rules(projectID uint64) []*meta.Rule
	SetWebhookPlugin(ctx context.Context, p *meta.WebhookPlugin) error
	WebhookPluginSettings(projectID uint64) meta.WebhookPlugin
}

// AlertQueue queues the notifications of a fired rule (internal/notify).
type AlertQueue interface {
	Enqueue(ctx context.Context, fired []alert.Fired) error
}

// RuleStatuses reads what the notification queue recorded of rules'
// deliveries (notify.Queue implements it).
type RuleStatuses interface {
	LastStatus(ctx context.Context, ruleID string, action int) (notify.Status, bool, error)
	LastFired(ctx context.Context, ruleID string) (notify.Firing, bool, error)
}

// TestFirer delivers a test-fire's actions now (notify.Sender.Deliver):
// each action's error, nil when delivered.
type TestFirer interface {
	Deliver(ctx context.Context, f alert.Fired) []error
}

// ruleBody is a rule as Sentry's API receives it.
type ruleBody struct {
	Name        string            `json:"name"`
	ActionMatch string            `json:"actionMatch"`
	FilterMatch string            `json:"filterMatch"`
	Frequency   json.Number       `json:"frequency"`
	Environment *string           `json:"environment"`
	Owner       *string           `json:"owner"`
	Conditions  []json.RawMessage `json:"conditions"`
	Filters     []json.RawMessage `json:"filters"`
	Actions     []json.RawMessage `json:"actions"`
}

// problems answers a failed validation as Sentry's serializers do: 400
// with the messages by field.
func problems(p alert.Problems) (*response, error) {
	return &response{status: http.StatusBadRequest, body: p}, nil
}

// decodeRule reads a rule body into r (a new rule, or a copy of the one
// being replaced) and validates it.
func decodeRule(req *http.Request, r *meta.Rule) (alert.Problems, error) {
	var b ruleBody
	if err := decodeBody(req, &b); err != nil {
		return nil, err
	}
	p := alert.Problems{}
	r.Name, r.ActionMatch, r.FilterMatch = b.Name, b.ActionMatch, b.FilterMatch
	r.Frequency = 0
	if b.Frequency != "" {
		n, err := strconv.Atoi(b.Frequency.String())
		if err != nil {
			p["frequency"] = []string{"A valid integer is required."}
		}
		r.Frequency = n
	}
	r.Environment = ""
	if b.Environment != nil {
		r.Environment = *b.Environment
	}
	if b.Owner != nil {
		r.Owner = *b.Owner
	}
	r.Conditions, r.Filters, r.Actions = b.Conditions, b.Filters, b.Actions
	if v := alert.Validate(r); v != nil {
		for k, msgs := range v {
			p[k] = append(p[k], msgs...)
		}
	}
	if len(p) > 0 {
		return p, nil
	}
	return nil, nil
}

// serializeRule is Sentry's rule shape, with Sentry's lastTriggered and
// Faultline's deliveries (each action's last delivery, by its index in
// actions; null for an action never delivered) and firedCount.
func (a *API) serializeRule(ctx context.Context, p *meta.Project, r *meta.Rule) map[string]any {
	var env any
	if r.Environment != "" {
		env = r.Environment
	}
	var owner any
	if r.Owner != "" {
		owner = r.Owner
	}
	out := map[string]any{
		"id":          strconv.FormatUint(r.ID, 10),
		"name":        r.Name,
		"actionMatch": r.ActionMatch,
		"filterMatch": r.FilterMatch,
		"frequency":   r.Frequency,
		"environment": env,
		"owner":       owner,
		"conditions":  named(r.Conditions),
		"filters":     named(r.Filters),
		"actions":     named(r.Actions),
		"dateCreated": r.DateCreated.Format(time.RFC3339Nano),
		"createdBy":   a.activityUser(r.CreatedBy),
		"projects":    []string{p.Slug},
		"status":      "active",
		"snooze":      false,
	}
	var last any
	fired := uint64(0)
	deliveries := make([]any, len(r.Actions))
	if rs, ok := a.cfg.Alerts.(RuleStatuses); ok {
		id := strconv.FormatUint(r.ID, 10)
		if f, found, err := rs.LastFired(ctx, id); err == nil && found {
			last, fired = f.At.Format(time.RFC3339Nano), f.Count
		}
		for i := range r.Actions {
			st, found, err := rs.LastStatus(ctx, id, i)
			if err != nil || !found {
				continue
			}
			d := map[string]any{"status": st.Status, "error": nil, "at": st.At.Format(time.RFC3339Nano),
				"attempts": st.Attempts, "idempotencyKey": st.Key}
			if st.Error != "" {
				d["error"] = st.Error
			}
			deliveries[i] = d
		}
	}
	out["lastTriggered"] = last
	out["firedCount"] = fired
	out["deliveries"] = deliveries
	return out
}

// named returns a rule's nodes with the label Sentry's API adds to each.
func named(list []json.RawMessage) []map[string]any {
	out := make([]map[string]any, 0, len(list))
	for _, raw := range list {
		var n map[string]any
		if json.Unmarshal(raw, &n) != nil {
			continue
		}
		if _, ok := n["name"]; !ok {
			id, _ := n["id"].(string)
			n["name"] = label(alert.NodeName(id), n)
		}
		out = append(out, n)
	}
	return out
}

func (a *API) listRules(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, rule := range a.meta.Rules(p.ID) {
		out = append(out, a.serializeRule(ctx, p, rule))
	}
	return ok(out)
}

func (a *API) createRule(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	rule := &meta.Rule{ProjectID: p.ID}
	if c.user != nil {
		rule.CreatedBy = c.user.ID
	}
	probs, err := decodeRule(r, rule)
	if err != nil {
		return nil, err
	}
	if probs != nil {
		return problems(probs)
	}
	if len(a.meta.Rules(p.ID)) >= maxRules {
		return nil, errorf(http.StatusBadRequest, "You may not exceed %d rules per project.", maxRules)
	}
	saved, err := a.meta.CreateRule(ctx, rule)
	if err != nil {
		return nil, err
	}
	return created(a.serializeRule(ctx, p, saved))
}

// maxRules bounds a project's rules (each is evaluated per new issue,
// regression and reappearance).
const maxRules = 100

// rule resolves {rule_id} to a rule of the project the caller sees.
func (a *API) rule(r *http.Request, c *caller) (*meta.Project, *meta.Rule, error) {
	_, p, err := a.project(r, c)
	if err != nil {
		return nil, nil, err
	}
	id, err := strconv.ParseUint(r.PathValue("rule_id"), 10, 64)
	if err != nil {
		return nil, nil, errNotFound
	}
	rule, found := a.meta.Rule(p.ID, id)
	if !found {
		return nil, nil, errNotFound
	}
	return p, rule, nil
}

func (a *API) getRule(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	p, rule, err := a.rule(r, c)
	if err != nil {
		return nil, err
	}
	return ok(a.serializeRule(ctx, p, rule))
}

func (a *API) updateRule(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	p, rule, err := a.rule(r, c)
	if err != nil {
		return nil, err
	}
	cp := *rule
	probs, err := decodeRule(r, &cp)
	if err != nil {
		return nil, err
	}
	if probs != nil {
		return problems(probs)
	}
	if err := a.meta.UpdateRule(ctx, &cp); err != nil {
		return nil, err
	}
	return ok(a.serializeRule(ctx, p, &cp))
}

func (a *API) deleteRule(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	p, rule, err := a.rule(r, c)
	if err != nil {
		return nil, err
	}
	if err := a.meta.DeleteRule(ctx, p.ID, rule.ID); err != nil {
		return nil, err
	}
	return &response{status: http.StatusAccepted}, nil
}

// testRuleActions is Sentry's test-fire: the actions sent are delivered
// once for the project's latest issue-like sample, with trigger "test".
func (a *API) testRuleActions(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	var b struct {
		Actions []json.RawMessage `json:"actions"`
		Name    string            `json:"name"`
	}
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	probe := &meta.Rule{Name: "Test Alert", Frequency: 30, Actions: b.Actions,
		Conditions: []json.RawMessage{json.RawMessage(`{"id":"` + alert.CondFirstSeen + `"}`)}}
	if v := alert.Validate(probe); v != nil {
		if msgs, bad := v["actions"]; bad {
			return problems(alert.Problems{"actions": msgs})
		}
	}
	if a.cfg.Alerts == nil && a.cfg.TestFire == nil {
		return nil, errorf(http.StatusBadRequest, "No notification queue is configured: alerts are off on this server.")
	}
	now := time.Now().UTC()
	name := "Test Alert"
	if b.Name != "" {
		name = b.Name
	}
	f := alert.Fired{Key: "test:" + strconv.FormatUint(p.ID, 10) + ":" + strconv.FormatInt(now.UnixNano(), 10),
		Trigger: alert.TriggerTest, At: now, RuleName: name, OrgID: o.ID, ProjectID: p.ID, Actions: b.Actions,
		Issue: alert.Issue{ShortID: meta.ShortID(p.Slug, 0), Title: "Test notification from Faultline",
			Message: "This is a test notification: the rule's actions are configured.", Level: "error",
			Platform: p.Platform, URL: a.public.String() + "/" + o.Slug + "/" + p.Slug + "/"}}
	if a.cfg.TestFire != nil {
		// Delivered now, as Sentry's test-fire: the answer says what each
		// action did (the errors name hosts, never a webhook's URL).
		var msgs []string
		for i, err := range a.cfg.TestFire.Deliver(ctx, f) {
			if err != nil {
				msgs = append(msgs, fmt.Sprintf("Action %d (%s): %s", i+1, actionID(b.Actions[i]), err))
			}
		}
		if len(msgs) > 0 {
			return problems(alert.Problems{"actions": msgs})
		}
		return &response{status: http.StatusOK, body: map[string]any{}}, nil
	}
	if err := a.cfg.Alerts.Enqueue(ctx, []alert.Fired{f}); err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: map[string]any{}}, nil
}

// actionID is a rule action's id ("" when unreadable).
func actionID(raw json.RawMessage) string {
	var n struct {
		ID string `json:"id"`
	}
	json.Unmarshal(raw, &n) //nolint:errcheck // validated before
	return n.ID
}

// webhookPlugin is Sentry's plugin answer for the WebHooks plugin.
func (a *API) serializeWebhookPlugin(wp meta.WebhookPlugin) map[string]any {
	secret := ""
	if wp.Secret != "" {
		secret = "********" // write-only, as Sentry's secret fields
	}
	return map[string]any{
		"id": "webhooks", "slug": "webhooks", "name": "WebHooks", "type": "notification",
		"enabled": wp.Enabled, "isHidden": false, "canDisable": true,
		"config": []map[string]any{
			{"name": "urls", "label": "Callback URLs", "type": "textarea", "value": strings.Join(wp.URLs, "\n"),
				"help": "Enter callback URLs to POST new events to (one per line)."},
			{"name": "secret", "label": "Signing secret (Faultline)", "type": "secret", "value": secret,
				"help": "When set, requests carry an HMAC-SHA256 of the body in Sentry-Hook-Signature."},
		},
	}
}

func (a *API) getWebhookPlugin(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	return noStore(ok(a.serializeWebhookPlugin(a.meta.WebhookPluginSettings(p.ID))))
}

// updateWebhookPlugin (PUT) stores the plugin's settings; POST enables it
// (with settings, if a body is sent), as Sentry's plugin routes.
func (a *API) updateWebhookPlugin(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	wp := a.meta.WebhookPluginSettings(p.ID)
	if r.Method == http.MethodPost {
		wp.Enabled = true
	}
	if r.Method == http.MethodPut || r.ContentLength > 0 {
		var b struct {
			URLs   *string `json:"urls"`
			Secret *string `json:"secret"`
		}
		if err := decodeBody(r, &b); err != nil {
			return nil, err
		}
		if b.URLs != nil {
			urls, msg := webhookURLs(*b.URLs)
			if msg != "" {
				return problems(alert.Problems{"urls": {msg}})
			}
			wp.URLs = urls
		}
		if b.Secret != nil && *b.Secret != "********" {
			if len(*b.Secret) > 256 {
				return problems(alert.Problems{"secret": {"Ensure this field has no more than 256 characters."}})
			}
			wp.Secret = *b.Secret
		}
	}
	if err := a.meta.SetWebhookPlugin(ctx, &wp); err != nil {
		return nil, err
	}
	return noStore(ok(a.serializeWebhookPlugin(wp)))
}

// disableWebhookPlugin (DELETE) disables the plugin, keeping its
// settings, as Sentry's plugin route.
func (a *API) disableWebhookPlugin(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	wp := a.meta.WebhookPluginSettings(p.ID)
	if wp.Enabled {
		wp.Enabled = false
		if err := a.meta.SetWebhookPlugin(ctx, &wp); err != nil {
			return nil, err
		}
	}
	return noStore(ok(a.serializeWebhookPlugin(wp)))
}

// webhookURLs parses the plugin's "one URL per line" field.
func webhookURLs(text string) ([]string, string) {
	urls := []string{}
	for _, line := range strings.Split(text, "\n") {
		u := strings.TrimSpace(line)
		if u == "" {
			continue
		}
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") || len(u) > 2048 {
			return nil, "Each line must be an http or https URL."
		}
		urls = append(urls, u)
	}
	if len(urls) > 50 {
		return nil, "Enter at most 50 URLs."
	}
	return urls, ""
}

// label fills a node's label with its values ({targetType} -> Member).
func label(tmpl string, n map[string]any) string {
	for k, v := range n {
		if strings.Contains(tmpl, "{"+k+"}") {
			tmpl = strings.ReplaceAll(tmpl, "{"+k+"}", fmt.Sprint(v))
		}
	}
	return tmpl
}
