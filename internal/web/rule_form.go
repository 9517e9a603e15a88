package web

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
)

// The rule form: a rule's conditions, filters and actions as one form
// that works without JavaScript. It shows one of each kind of node; the
// nodes it cannot show (a second tag filter, an action of a later
// version) are carried as they are, in hidden fields, with a checkbox to
// drop them. Fields of a node that the form does not edit are kept from
// the stored rule when it is saved. The API validates everything.

// Sentry's ids, as the API takes them.
const (
	idFirstSeen   = "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"
	idRegression  = "sentry.rules.conditions.regression_event.RegressionEventCondition"
	idReappeared  = "sentry.rules.conditions.reappeared_event.ReappearedEventCondition"
	idFrequency   = "sentry.rules.conditions.event_frequency.EventFrequencyCondition"
	idUsers       = "sentry.rules.conditions.event_frequency.EventUniqueUserFrequencyCondition"
	idLevel       = "sentry.rules.filters.level.LevelFilter"
	idTagged      = "sentry.rules.filters.tagged_event.TaggedEventFilter"
	idAttribute   = "sentry.rules.filters.event_attribute.EventAttributeFilter"
	idAge         = "sentry.rules.filters.age_comparison.AgeComparisonFilter"
	idOccurrences = "sentry.rules.filters.issue_occurrences.IssueOccurrencesFilter"
	idLatest      = "sentry.rules.filters.latest_release.LatestReleaseFilter"
	idEmail       = "sentry.mail.actions.NotifyEmailAction"
	idService     = "sentry.rules.actions.notify_event_service.NotifyEventServiceAction"
	idSlack       = "faultline.actions.slack"
	idDiscord     = "faultline.actions.discord"
	idTeams       = "faultline.actions.teams"
)

// ruleForm is the form's fields.
type ruleForm struct {
	Name, Environment, ActionMatch, FilterMatch, Frequency string

	FirstSeen, Regression, Reappeared bool
	FreqOn                            bool
	FreqValue, FreqInterval           string
	UsersOn                           bool
	UsersValue, UsersInterval         string

	LevelOn                      bool
	LevelMatch, Level            string
	TagOn                        bool
	TagKey, TagMatch, TagValue   string
	AttrOn                       bool
	Attr, AttrMatch, AttrValue   string
	AgeOn                        bool
	AgeCmp, AgeValue, AgeTime    string
	OccOn                        bool
	OccValue                     string
	LatestRelease                bool
	EmailOn                      bool
	EmailTarget, EmailIdentifier string
	WebhooksOn                   bool
	SlackURL, DiscordURL         string
	TeamsURL                     string

	Kept []keptNode
}

// keptNode is a node the form does not show: its list and JSON.
type keptNode struct {
	List, JSON, Label string
}

// newRuleForm is the form of a new rule: Sentry's defaults, a new issue
// e-mailing the owners.
func newRuleForm() ruleForm {
	return ruleForm{ActionMatch: "all", FilterMatch: "all", Frequency: "30", FirstSeen: true,
		FreqInterval: "1h", UsersInterval: "1h", LevelMatch: "gte", Level: "40", TagMatch: "eq", Attr: "message",
		AttrMatch: "co", AgeCmp: "older", AgeTime: "day", EmailOn: true, EmailTarget: "IssueOwners"}
}

func str(n map[string]any, k string) string {
	switch v := n[k].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// formOfRule fills the form from a rule as the API answers it.
func formOfRule(r *apiRule) ruleForm {
	f := newRuleForm()
	f.FirstSeen, f.EmailOn = false, false
	f.Name, f.ActionMatch, f.FilterMatch, f.Frequency = r.Name, r.ActionMatch, r.FilterMatch, strconv.Itoa(r.Frequency)
	if r.Environment != nil {
		f.Environment = *r.Environment
	}
	taken := map[string]bool{}
	keep := func(list string, n map[string]any) {
		cp := map[string]any{}
		for k, v := range n {
			if k != "name" {
				cp[k] = v
			}
		}
		b, _ := json.Marshal(cp)
		f.Kept = append(f.Kept, keptNode{List: list, JSON: string(b), Label: nodeLabel(n)})
	}
	node := func(list string, n map[string]any) {
		id := str(n, "id")
		if taken[id] {
			keep(list, n)
			return
		}
		taken[id] = true
		switch id {
		case idFirstSeen:
			f.FirstSeen = true
		case idRegression:
			f.Regression = true
		case idReappeared:
			f.Reappeared = true
		case idFrequency:
			f.FreqOn, f.FreqValue, f.FreqInterval = true, str(n, "value"), str(n, "interval")
		case idUsers:
			f.UsersOn, f.UsersValue, f.UsersInterval = true, str(n, "value"), str(n, "interval")
		case idLevel:
			f.LevelOn, f.LevelMatch, f.Level = true, str(n, "match"), str(n, "level")
		case idTagged:
			f.TagOn, f.TagKey, f.TagMatch, f.TagValue = true, str(n, "key"), str(n, "match"), str(n, "value")
		case idAttribute:
			f.AttrOn, f.Attr, f.AttrMatch, f.AttrValue = true, str(n, "attribute"), str(n, "match"), str(n, "value")
		case idAge:
			f.AgeOn, f.AgeCmp, f.AgeValue, f.AgeTime = true, str(n, "comparison_type"), str(n, "value"), str(n, "time")
		case idOccurrences:
			f.OccOn, f.OccValue = true, str(n, "value")
		case idLatest:
			f.LatestRelease = true
		case idEmail:
			f.EmailOn, f.EmailTarget, f.EmailIdentifier = true, str(n, "targetType"), str(n, "targetIdentifier")
		case idService:
			if str(n, "service") != "webhooks" {
				keep(list, n)
				return
			}
			f.WebhooksOn = true
		case idSlack:
			f.SlackURL = str(n, "webhookUrl")
		case idDiscord:
			f.DiscordURL = str(n, "webhookUrl")
		case idTeams:
			f.TeamsURL = str(n, "webhookUrl")
		default:
			keep(list, n)
		}
	}
	for _, n := range r.Conditions {
		node("conditions", n)
	}
	for _, n := range r.Filters {
		node("filters", n)
	}
	for _, n := range r.Actions {
		node("actions", n)
	}
	return f
}

// parseRuleForm reads the posted form.
func parseRuleForm(v url.Values) ruleForm {
	on := func(k string) bool { return v.Get(k) != "" }
	t := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	f := ruleForm{Name: t("name"), Environment: t("environment"), ActionMatch: t("actionMatch"),
		FilterMatch: t("filterMatch"), Frequency: t("frequency"),
		FirstSeen: on("firstSeen"), Regression: on("regression"), Reappeared: on("reappeared"),
		FreqOn: on("freqOn"), FreqValue: t("freqValue"), FreqInterval: t("freqInterval"),
		UsersOn: on("usersOn"), UsersValue: t("usersValue"), UsersInterval: t("usersInterval"),
		LevelOn: on("levelOn"), LevelMatch: t("levelMatch"), Level: t("level"),
		TagOn: on("tagOn"), TagKey: t("tagKey"), TagMatch: t("tagMatch"), TagValue: v.Get("tagValue"),
		AttrOn: on("attrOn"), Attr: t("attr"), AttrMatch: t("attrMatch"), AttrValue: v.Get("attrValue"),
		AgeOn: on("ageOn"), AgeCmp: t("ageCmp"), AgeValue: t("ageValue"), AgeTime: t("ageTime"),
		OccOn: on("occOn"), OccValue: t("occValue"), LatestRelease: on("latestRelease"),
		EmailOn: on("emailOn"), EmailTarget: t("emailTarget"), EmailIdentifier: t("emailIdentifier"),
		WebhooksOn: on("webhooksOn"), SlackURL: t("slackUrl"), DiscordURL: t("discordUrl"), TeamsURL: t("teamsUrl")}
	for i, j := range v["keep"] {
		if i >= 150 {
			break
		}
		list, js, ok := strings.Cut(j, ":")
		if !ok || (list != "conditions" && list != "filters" && list != "actions") {
			continue
		}
		var n map[string]any
		if json.Unmarshal([]byte(js), &n) != nil {
			continue
		}
		f.Kept = append(f.Kept, keptNode{List: list, JSON: js, Label: nodeLabel(n)})
	}
	return f
}

// number is a form's number as JSON's, or the text as typed when it is
// not one (the API then refuses it with its message).
func number(s string) any {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	return s
}

// body is the API's rule body of the form. stored is the rule being
// edited (nil for a new one): the fields of its nodes that the form does
// not edit are kept.
func (f *ruleForm) body(stored *apiRule) map[string]any {
	orig := map[string]map[string]any{}
	if stored != nil {
		for _, list := range [][]map[string]any{stored.Conditions, stored.Filters, stored.Actions} {
			for _, n := range list {
				if id := str(n, "id"); orig[id] == nil {
					orig[id] = n
				}
			}
		}
	}
	mk := func(id string, kv ...any) map[string]any {
		n := map[string]any{}
		for k, v := range orig[id] {
			if k != "name" {
				n[k] = v
			}
		}
		n["id"] = id
		for i := 0; i+1 < len(kv); i += 2 {
			n[kv[i].(string)] = kv[i+1]
		}
		return n
	}
	conds, filts, acts := []any{}, []any{}, []any{}
	if f.FirstSeen {
		conds = append(conds, mk(idFirstSeen))
	}
	if f.Regression {
		conds = append(conds, mk(idRegression))
	}
	if f.Reappeared {
		conds = append(conds, mk(idReappeared))
	}
	if f.FreqOn {
		conds = append(conds, mk(idFrequency, "value", number(f.FreqValue), "interval", f.FreqInterval))
	}
	if f.UsersOn {
		conds = append(conds, mk(idUsers, "value", number(f.UsersValue), "interval", f.UsersInterval))
	}
	if f.LevelOn {
		filts = append(filts, mk(idLevel, "match", f.LevelMatch, "level", f.Level))
	}
	if f.TagOn {
		filts = append(filts, mk(idTagged, "key", f.TagKey, "match", f.TagMatch, "value", f.TagValue))
	}
	if f.AttrOn {
		filts = append(filts, mk(idAttribute, "attribute", f.Attr, "match", f.AttrMatch, "value", f.AttrValue))
	}
	if f.AgeOn {
		filts = append(filts, mk(idAge, "comparison_type", f.AgeCmp, "value", number(f.AgeValue), "time", f.AgeTime))
	}
	if f.OccOn {
		filts = append(filts, mk(idOccurrences, "value", number(f.OccValue)))
	}
	if f.LatestRelease {
		filts = append(filts, mk(idLatest))
	}
	if f.EmailOn {
		acts = append(acts, mk(idEmail, "targetType", f.EmailTarget, "targetIdentifier", f.EmailIdentifier))
	}
	if f.WebhooksOn {
		acts = append(acts, mk(idService, "service", "webhooks"))
	}
	for _, a := range []struct{ id, url string }{{idSlack, f.SlackURL}, {idDiscord, f.DiscordURL}, {idTeams, f.TeamsURL}} {
		if a.url != "" {
			acts = append(acts, mk(a.id, "webhookUrl", a.url))
		}
	}
	for _, k := range f.Kept {
		var n map[string]any
		if json.Unmarshal([]byte(k.JSON), &n) != nil {
			continue
		}
		switch k.List {
		case "conditions":
			conds = append(conds, n)
		case "filters":
			filts = append(filts, n)
		case "actions":
			acts = append(acts, n)
		}
	}
	var env any
	if f.Environment != "" {
		env = f.Environment
	}
	return map[string]any{"name": f.Name, "environment": env, "actionMatch": f.ActionMatch, "filterMatch": f.FilterMatch,
		"frequency": number(f.Frequency), "conditions": conds, "filters": filts, "actions": acts}
}
