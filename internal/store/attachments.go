package store

import (
	"context"
	"fmt"
	"time"
)

// Attachment is the metadata of a file sent with an event. The bytes are
// in the attachment object store under ObjectKey.
type Attachment struct {
	ProjectID     uint64    `ch:"project_id"`
	EventID       string    `ch:"event_id"` // 32 lowercase hex
	ID            uint64    `ch:"id"`       // unique in its event; the API's attachment id
	GroupID       uint64    `ch:"group_id"` // the event's issue, 0 if the event is not stored
	Name          string    `ch:"name"`
	ContentType   string    `ch:"content_type"`
	Type          string    `ch:"attachment_type"` // Sentry's attachment_type, e.g. "event.attachment", "event.minidump"
	Size          uint64    `ch:"size"`
	SHA1          string    `ch:"sha1"`
	ObjectKey     string    `ch:"object_key"`
	Created       time.Time `ch:"date_created"`
	RetentionDays uint16    `ch:"retention_days"`
}

var attachmentCols = []string{"project_id", "event_id", "id", "group_id", "name", "content_type",
	"attachment_type", "size", "sha1", "object_key", "date_created", "retention_days", "deleted"}

const attachmentSelect = "project_id, event_id, id, group_id, name, content_type, attachment_type, size, sha1, " +
	"object_key, date_created, retention_days"

// InsertAttachments records attachment metadata. Writing the same
// attachment twice (a redelivered message) is harmless: rows with the same
// (project, event, id) collapse, and reads return one.
func (s *Store) InsertAttachments(ctx context.Context, atts []Attachment) error {
	if len(atts) == 0 {
		return nil
	}
	rows := make([][]any, len(atts))
	for i, a := range atts {
		if len(a.EventID) != 32 {
			return fmt.Errorf("store: attachment event id %q is not 32 hex characters", a.EventID)
		}
		rows[i] = []any{a.ProjectID, a.EventID, a.ID, a.GroupID, a.Name, a.ContentType, a.Type, a.Size,
			a.SHA1, a.ObjectKey, a.Created.UTC(), a.RetentionDays, uint8(0)}
	}
	return s.t.insert(ctx, s.table("attachments"), attachmentCols, rows)
}

// ListAttachments returns an event's attachments, in the order they were
// sent.
func (s *Store) ListAttachments(ctx context.Context, projectID uint64, eventID string) ([]Attachment, error) {
	var rows []Attachment
	err := s.t.query(ctx, &rows, "SELECT "+attachmentSelect+" FROM "+s.table("attachments")+
		" WHERE project_id = "+num(projectID)+" AND event_id = "+str(eventID)+" AND deleted = 0"+
		" ORDER BY date_created, id LIMIT 1 BY id LIMIT 1000")
	return rows, err
}

// GetAttachment returns one attachment of an event, or nil.
func (s *Store) GetAttachment(ctx context.Context, projectID uint64, eventID string, id uint64) (*Attachment, error) {
	var rows []Attachment
	err := s.t.query(ctx, &rows, "SELECT "+attachmentSelect+" FROM "+s.table("attachments")+
		" WHERE project_id = "+num(projectID)+" AND event_id = "+str(eventID)+" AND id = "+num(id)+
		" AND deleted = 0 LIMIT 1")
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return &rows[0], nil
}

// AttachmentKey identifies an attachment.
type AttachmentKey struct {
	ProjectID uint64
	EventID   string
	ID        uint64
}

// StoredAttachmentKeys returns the object keys of those of keys that are
// stored, one read per project on the table's sorting key. Attachments are
// write-once: the worker stores only those not stored yet.
func (s *Store) StoredAttachmentKeys(ctx context.Context, keys []AttachmentKey) (map[AttachmentKey]string, error) {
	out := map[AttachmentKey]string{}
	byProject := map[uint64][]string{}
	for _, k := range keys {
		byProject[k.ProjectID] = append(byProject[k.ProjectID], k.EventID)
	}
	for pid, eids := range byProject {
		var ids []uint64
		for _, k := range keys {
			if k.ProjectID == pid {
				ids = append(ids, k.ID)
			}
		}
		var rows []struct {
			EventID   string `ch:"event_id"`
			ID        uint64 `ch:"id"`
			ObjectKey string `ch:"object_key"`
		}
		if err := s.t.query(ctx, &rows, "SELECT event_id, id, any(object_key) AS object_key FROM "+s.table("attachments")+
			" WHERE project_id = "+num(pid)+" AND event_id IN "+strs(eids)+" AND id IN "+nums(ids)+
			" AND deleted = 0 GROUP BY event_id, id SETTINGS force_primary_key = 1"); err != nil {
			return nil, err
		}
		for _, r := range rows {
			out[AttachmentKey{pid, r.EventID, r.ID}] = r.ObjectKey
		}
	}
	return out, nil
}
