package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/attachment"
	"github.com/faultline/faultline/internal/store"
)

// serializeAttachment renders attachment metadata as Sentry's
// EventAttachmentSerializer does.
func serializeAttachment(at *store.Attachment) map[string]any {
	return map[string]any{
		"id":          strconv.FormatUint(at.ID, 10),
		"event_id":    at.EventID,
		"type":        at.Type,
		"name":        at.Name,
		"mimetype":    at.ContentType,
		"dateCreated": at.Created.UTC().Format(time.RFC3339),
		"size":        at.Size,
		"headers":     map[string]string{"Content-Type": at.ContentType},
		"sha1":        at.SHA1,
	}
}

// eventIDParam normalizes the {event_id} path value: 32 hex digits, with
// or without a UUID's dashes.
func eventIDParam(r *http.Request) (string, error) {
	id := strings.ReplaceAll(strings.ToLower(r.PathValue("event_id")), "-", "")
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return "", errNotFound
	}
	return id, nil
}

// listAttachments serves GET /api/0/projects/{org}/{project}/events/{event_id}/attachments/.
func (a *API) listAttachments(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	eid, err := eventIDParam(r)
	if err != nil {
		return nil, err
	}
	atts, err := a.store.ListAttachments(ctx, p.ID, eid)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(atts))
	for i := range atts {
		out = append(out, serializeAttachment(&atts[i]))
	}
	return ok(out)
}

// getAttachment serves .../attachments/{attachment_id}/: the metadata, or
// with ?download=1 the file itself.
func (a *API) getAttachment(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, err := a.project(r, c)
	if err != nil {
		return nil, err
	}
	eid, err := eventIDParam(r)
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseUint(r.PathValue("attachment_id"), 10, 64)
	if err != nil {
		return nil, errNotFound
	}
	at, err := a.store.GetAttachment(ctx, p.ID, eid, id)
	if err != nil {
		return nil, err
	}
	if at == nil {
		return nil, errNotFound
	}
	switch r.URL.Query().Get("download") {
	case "", "0", "false":
		return ok(serializeAttachment(at))
	}
	if a.cfg.Attachments == nil {
		return nil, errNotFound
	}
	// The bytes are served only if they are the ones the metadata
	// describes (attachments are write-once; see package attachment).
	obj, size, err := a.cfg.Attachments.Get(ctx, at.ObjectKey, at.SHA1)
	if errors.Is(err, attachment.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "The attachment's file has expired or was deleted.")
	}
	if err != nil {
		if errors.Is(err, attachment.ErrChecksum) {
			a.log.Error("attachment does not match its checksum; not served", "project_id", p.ID,
				"event_id", eid, "attachment_id", id, "err", err)
		}
		return nil, err
	}
	if size != at.Size {
		obj.Close()
		a.log.Error("attachment size differs from its metadata; not served", "project_id", p.ID,
			"event_id", eid, "attachment_id", id, "size", size, "want", at.Size)
		return nil, fmt.Errorf("%w: size %d, want %d", attachment.ErrChecksum, size, at.Size)
	}
	return &response{status: http.StatusOK, download: &download{name: at.Name, contentType: at.ContentType, size: size,
		body: &checkedBody{ReadCloser: obj, log: a.log, key: at.ObjectKey}}}, nil
}

// checkedBody logs, as an error, a download cut short because its bytes
// stopped matching their checksum while being sent.
type checkedBody struct {
	io.ReadCloser
	log *slog.Logger
	key string
}

func (c *checkedBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if errors.Is(err, attachment.ErrChecksum) {
		c.log.Error("attachment changed while being served; download cut", "key", c.key, "err", err)
	}
	return n, err
}
