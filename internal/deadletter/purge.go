package deadletter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/store"
)

// Purge removes a project's dead letters: all of them, or, with a user
// filter, those that mention the user's id, e-mail or IP address (a user's
// data erasure). It returns how many it removed.
func (s *Stream) Purge(ctx context.Context, projectID uint64, user *store.UserFilter) (uint64, error) {
	subj := subject(projectID)
	if user == nil || user.Empty() {
		info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(subj))
		if err != nil {
			return 0, err
		}
		n := info.State.Subjects[subj]
		if err := s.stream.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			return 0, err
		}
		return n, nil
	}
	needles := userNeedles(user)
	var n uint64
	for seq := uint64(1); ; seq++ {
		m, err := s.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		seq = m.Sequence
		if !mentions(m, needles, user.IPAddress) {
			continue
		}
		if err := s.stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, err
		}
		n++
	}
}

// userNeedles are the byte strings that show a user in an event body: each
// value as a JSON string, and the id as a bare number too.
func userNeedles(u *store.UserFilter) [][]byte {
	var out [][]byte
	for _, v := range []string{u.ID, u.Email, u.IPAddress} {
		if v == "" {
			continue
		}
		b, _ := json.Marshal(v)
		out = append(out, b)
	}
	if _, err := strconv.ParseFloat(u.ID, 64); err == nil {
		out = append(out, []byte(`"id":`+u.ID), []byte(`"id": `+u.ID))
	}
	return out
}

// mentions reports whether a dead letter's body or client address shows the
// user. A body that cannot be decoded counts as a match: erasure errs on the
// side of deleting.
func mentions(m *jetstream.RawStreamMsg, needles [][]byte, ip string) bool {
	if ip != "" && m.Header.Get("Fl-Client-Ip") == ip {
		return true
	}
	body, err := envelope.Decode(m.Data, m.Header.Get("Fl-Encoding"), envelope.MaxEnvelopeSize)
	if err != nil {
		return true
	}
	if legacy, err := envelope.DecodeLegacyStore(body, envelope.MaxEventSize); err == nil {
		body = legacy
	}
	for _, n := range needles {
		if bytes.Contains(body, n) {
			return true
		}
	}
	return false
}
