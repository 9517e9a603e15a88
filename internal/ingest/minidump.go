package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/limits"
	"github.com/faultline/faultline/internal/minidump"
	"github.com/faultline/faultline/internal/queue"
)

// minidump handles POST /api/{project_id}/minidump/: a crash dump from
// Breakpad, Crashpad or Electron, raw or in a multipart form. The dump and
// the other files are kept as attachments, and an event records the crash.
// The answer is the event id as a UUID in plain text, what these clients
// expect.
func (h *Handler) minidump(ctx context.Context, r *http.Request, req *request) (reply, error) {
	if err := h.receive(ctx, r, req, envelope.MaxAttachmentsSize, envelope.MaxAttachmentsSize); err != nil {
		return reply{}, err
	}
	up, err := minidump.Parse(req.body, r.Header.Get("Content-Type"))
	switch {
	case errors.Is(err, minidump.ErrTooLarge):
		return reply{}, fail(http.StatusRequestEntityTooLarge, "%v", err)
	case err != nil:
		return reply{}, fail(http.StatusBadRequest, "%v", err)
	}
	if ls := h.admit(req, limits.CategoryError, 1); ls != nil {
		return reply{}, limitedError(ls)
	}
	files := make([]upload, len(up.Files))
	for i, f := range up.Files {
		files[i] = upload{name: f.Name, contentType: f.ContentType, attachmentType: f.AttachmentType, data: f.Data}
	}
	m := h.message(r, req, queue.KindEnvelope, up.EventID)
	if m.Attachments, err = h.storeAttachments(ctx, req, up.EventID, files); err != nil {
		return reply{}, err
	}
	header, _ := json.Marshal(map[string]string{"event_id": up.EventID})
	req.body, req.raw, req.encoding = envelope.Encode(header, envelope.Item{Type: "event", Payload: up.Event}), nil, ""
	if err := h.publish(ctx, m, req); err != nil {
		return reply{}, err
	}
	return reply{contentType: "text/plain; charset=utf-8", body: []byte(hyphenated(up.EventID))}, nil
}
