package process

import (
	"encoding/json"
	"hash/fnv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/event"
	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/queue"
	"github.com/faultline/faultline/internal/store"
)

// This file handles the envelope items that are not events: each one ends
// in the store (attachments, user feedback) and in the outcomes table
// (counted per category), so that nothing an SDK sends is dropped silently.

// decoded is what one queue message carries, ready to store.
type decoded struct {
	events      []item
	attachments []store.Attachment
	attMeta     []attMeta // one per attachment
	reports     []store.UserReport
	// outcomes of the items that are not events; an event's own outcome
	// is recorded when the event is stored (item.category).
	outcomes []store.Outcome
}

// msgContext is what every item of a message shares.
type msgContext struct {
	project *meta.Project
	qm      *queue.Message
	src     Source
}

// record adds an outcome of the message's project and key.
func (c *msgContext) record(d *decoded, kind outcome.Kind, reason string, cat outcome.Category, q uint64, at time.Time) {
	if at.IsZero() {
		at = c.src.Received
	}
	d.outcomes = append(d.outcomes, store.Outcome{OrgID: c.project.OrgID, ProjectID: c.project.ID, KeyID: c.qm.KeyID,
		Timestamp: at, Kind: kind, Reason: reason, Category: cat, Quantity: q})
}

func (c *msgContext) retention() uint16 {
	if c.project.RetentionDays > 0 && c.project.RetentionDays <= 65535 {
		return uint16(c.project.RetentionDays)
	}
	return meta.DefaultRetentionDays
}

// unsupported are the item types Faultline recognizes but does not keep,
// with the category their outcome (Filtered) is counted in.
var unsupported = map[string]outcome.Category{
	"profile":          outcome.CategoryProfile,
	"profile_chunk":    outcome.CategoryProfileChunk,
	"replay_event":     outcome.CategoryReplay,
	"replay_recording": outcome.CategoryReplay,
	"replay_video":     outcome.CategoryReplay,
	"trace_metric":     outcome.CategoryTraceMetric,
}

// handleItem processes one item that is not an event. It never fails the
// message: a broken item is counted as invalid, as Relay does.
func (w *Worker) handleItem(c *msgContext, d *decoded, it *envelope.Item) {
	switch it.Type {
	case "transaction":
		w.transaction(c, d, it.Payload)
	case "session", "sessions":
		n, reason, err := outcome.Sessions(it.Type, it.Payload)
		if err != nil {
			c.record(d, outcome.Invalid, reason, outcome.CategorySession, 1, time.Time{})
			return
		}
		if n > 0 {
			c.record(d, outcome.Accepted, "", outcome.CategorySession, n, time.Time{})
		}
	case "client_report":
		recs, err := outcome.ClientReport(it.Payload, c.src.Received, c.src.SentAt,
			time.Duration(c.retention())*24*time.Hour)
		if err != nil {
			w.log.Debug("invalid client report", "project_id", c.project.ID, "err", err)
			return // Relay drops them without an outcome: they are outcomes
		}
		for _, r := range recs {
			c.record(d, r.Kind, r.Reason, r.Category, r.Quantity, r.Timestamp)
		}
	case "user_report":
		w.userReport(c, d, it.Payload)
	case "feedback":
		w.feedback(c, d, it.Payload)
	case "check_in":
		if !json.Valid(it.Payload) {
			c.record(d, outcome.Invalid, outcome.ReasonInvalidJSON, outcome.CategoryMonitor, 1, time.Time{})
			return
		}
		c.record(d, outcome.Accepted, "", outcome.CategoryMonitor, 1, time.Time{})
	case "log", "otel_log":
		n := containerCount(it)
		c.record(d, outcome.Accepted, "", outcome.CategoryLogItem, n, time.Time{})
		c.record(d, outcome.Accepted, "", outcome.CategoryLogByte, uint64(len(it.Payload)), time.Time{})
	case "span", "otel_span":
		c.record(d, outcome.Accepted, "", outcome.CategorySpan, containerCount(it), time.Time{})
	case "attachment":
		// Ingest keeps attachments in the object store and never queues
		// them; one here was queued by something else.
		w.log.Warn("attachment item in a queued envelope; ignored", "project_id", c.project.ID)
	default:
		if cat, ok := unsupported[it.Type]; ok {
			c.record(d, outcome.Filtered, outcome.ReasonUnsupported, cat, 1, time.Time{})
			return
		}
		// Unknown types are skipped, as Relay does in processing mode.
		w.log.Debug("skipping unknown envelope item", "project_id", c.project.ID, "type", it.Type)
	}
}

// containerCount is how many records an item holds: its item_count, else
// the length of its "items" list, else 1.
func containerCount(it *envelope.Item) uint64 {
	if it.ItemCount > 0 {
		return uint64(it.ItemCount)
	}
	var c struct {
		Items []gojson.RawMessage `json:"items"`
	}
	if gojson.Unmarshal(it.Payload, &c) == nil && len(c.Items) > 0 {
		return uint64(len(c.Items))
	}
	return 1
}

// transaction counts a transaction and its spans (the root span included),
// as Relay's outcomes do. Faultline does not store transactions.
func (w *Worker) transaction(c *msgContext, d *decoded, payload []byte) {
	var tx struct {
		Spans []gojson.RawMessage `json:"spans"`
	}
	if err := gojson.Unmarshal(payload, &tx); err != nil {
		c.record(d, outcome.Invalid, outcome.ReasonInvalidJSON, outcome.CategoryTransaction, 1, time.Time{})
		return
	}
	c.record(d, outcome.Accepted, "", outcome.CategoryTransaction, 1, time.Time{})
	c.record(d, outcome.Accepted, "", outcome.CategorySpan, uint64(len(tx.Spans))+1, time.Time{})
}

// maxFeedbackField bounds the fields of user feedback.
const maxFeedbackField = 4096

// userReport stores a legacy "user_report" item: feedback about the event
// it names.
func (w *Worker) userReport(c *msgContext, d *decoded, payload []byte) {
	var r struct {
		EventID  string `json:"event_id"`
		Name     string `json:"name"`
		Email    string `json:"email"`
		Comments string `json:"comments"`
	}
	if err := json.Unmarshal(payload, &r); err != nil {
		w.log.Debug("invalid user report", "project_id", c.project.ID, "err", err)
		return
	}
	eid, err := envelope.NormalizeEventID(r.EventID)
	if err != nil || eid == "" {
		eid = c.src.EventID // the envelope header names the event
	}
	if eid == "" {
		w.log.Debug("user report without an event id", "project_id", c.project.ID)
		return
	}
	d.reports = append(d.reports, store.UserReport{ProjectID: c.project.ID, EventID: eid, ID: reportID(eid, ""),
		Name: clip(r.Name), Email: clip(r.Email), Comments: clip(r.Comments), Created: c.src.Received,
		RetentionDays: c.retention()})
}

// feedback stores a "feedback" item, the new user feedback: an event whose
// contexts.feedback holds the message, linked to the event it is about
// (associated_event_id) when there is one.
func (w *Worker) feedback(c *msgContext, d *decoded, payload []byte) {
	var f struct {
		EventID  string `json:"event_id"`
		Contexts struct {
			Feedback struct {
				Message           string `json:"message"`
				ContactEmail      string `json:"contact_email"`
				Name              string `json:"name"`
				AssociatedEventID string `json:"associated_event_id"`
			} `json:"feedback"`
		} `json:"contexts"`
		User *struct {
			Email string `json:"email"`
			Name  string `json:"name"`
		} `json:"user"`
	}
	if err := json.Unmarshal(payload, &f); err != nil {
		c.record(d, outcome.Invalid, outcome.ReasonInvalidJSON, outcome.CategoryUserReportV2, 1, time.Time{})
		return
	}
	own, err := envelope.NormalizeEventID(f.EventID)
	if err != nil || own == "" {
		own = c.src.EventID
	}
	fb := f.Contexts.Feedback
	about, err := envelope.NormalizeEventID(fb.AssociatedEventID)
	if err != nil || about == "" {
		about = own
	}
	if about == "" {
		c.record(d, outcome.Invalid, "invalid_feedback", outcome.CategoryUserReportV2, 1, time.Time{})
		return
	}
	name, email := fb.Name, fb.ContactEmail
	if f.User != nil {
		if name == "" {
			name = f.User.Name
		}
		if email == "" {
			email = f.User.Email
		}
	}
	d.reports = append(d.reports, store.UserReport{ProjectID: c.project.ID, EventID: about, FeedbackID: own,
		ID: reportID(about, own), Name: clip(name), Email: clip(email), Comments: clip(fb.Message),
		Created: c.src.Received, RetentionDays: c.retention()})
	c.record(d, outcome.Accepted, "", outcome.CategoryUserReportV2, 1, time.Time{})
}

// attachments turns the message's attachment references into rows. They
// are counted (bytes and items, as Relay does) when they are stored, or
// found to be duplicates (writeAttachments).
func (w *Worker) attachments(c *msgContext, d *decoded, eventID string) {
	for _, ref := range c.qm.Attachments {
		d.attachments = append(d.attachments, store.Attachment{ProjectID: c.project.ID, EventID: eventID, ID: ref.ID,
			Name: ref.Name, ContentType: ref.ContentType, Type: ref.Type, Size: ref.Size, SHA1: ref.SHA1,
			ObjectKey: ref.Key, Created: c.src.Received, RetentionDays: c.retention()})
		d.attMeta = append(d.attMeta, attMeta{orgID: c.project.OrgID, keyID: c.qm.KeyID})
	}
}

// reportID is a user report's id: stable for the same report, below 2^53.
func reportID(eventID, feedbackID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(eventID))
	h.Write([]byte{0})
	h.Write([]byte(feedbackID))
	if id := h.Sum64() & (1<<53 - 1); id != 0 {
		return id
	}
	return 1
}

// clip bounds a feedback field.
func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxFeedbackField {
		return event.Truncate(s, maxFeedbackField/4)
	}
	return s
}

// securityTypes are the event types of security reports.
var securityTypes = map[string]bool{"csp": true, "hpkp": true, "expectct": true, "expectstaple": true}

// eventCategory is the data category an event counts in.
func eventCategory(typ string) outcome.Category {
	if securityTypes[typ] {
		return outcome.CategorySecurity
	}
	return outcome.CategoryError
}

// parseSentAt reads an envelope's sent_at; anything unreadable is ignored,
// as Relay ignores it.
func parseSentAt(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := event.ParseTime(s)
	if err != nil {
		return time.Time{}
	}
	return t
}
