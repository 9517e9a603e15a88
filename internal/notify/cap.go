package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func (q *Queue) isDeliveredRaw(ctx context.Context, k string) (bool, error) {
	_, err := q.delivered.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (q *Queue) markDeliveredRaw(ctx context.Context, k string) error {
	_, err := q.delivered.Put(ctx, k, []byte(time.Now().UTC().Format(time.RFC3339)))
	return err
}

func capKey(to string, hour time.Time) string {
	return "cap." + hashKey(to) + "." + strconv.FormatInt(hour.Unix(), 10)
}

func digestKey(to string, hour time.Time) string {
	return "digest." + hashKey(to) + "." + strconv.FormatInt(hour.Unix(), 10)
}

// sendCapped sends a mail unless its recipient had the hour's cap, in
// which case the mail is folded into the hour's digest.
func (s *Sender) sendCapped(ctx context.Context, key string, m Mail, link string) error {
	hour := time.Now().UTC().Truncate(time.Hour)
	ck := capKey(m.To, hour)
	// Take one of the hour's slots first (compare-and-set, so that
	// senders side by side cannot overrun the cap); a failed send keeps
	// its slot, erring on the side of fewer mails.
	reserved := false
	err := s.q.update(ctx, ck, func(old []byte) ([]byte, bool) {
		n, _ := strconv.Atoi(string(old))
		reserved = n < s.cfg.SMTP.HourlyCap
		if !reserved {
			return old, false
		}
		return []byte(strconv.Itoa(n + 1)), true
	})
	if err != nil {
		return err
	}
	if !reserved {
		return s.addDigest(ctx, m.To, hour, digestEntry{Subject: m.Subject, URL: link})
	}
	return s.mailer.Send(ctx, key, m)
}

type digestRecord struct {
	To      string        `json:"to"`
	Entries []digestEntry `json:"entries"`
	Dropped int           `json:"dropped"`
}

func (s *Sender) addDigest(ctx context.Context, to string, hour time.Time, e digestEntry) error {
	created := false
	err := s.q.update(ctx, digestKey(to, hour), func(old []byte) ([]byte, bool) {
		var d digestRecord
		if old == nil {
			created = true
			d.To = to
		} else {
			json.Unmarshal(old, &d) //nolint:errcheck
		}
		if len(d.Entries) < maxDigestEntries {
			d.Entries = append(d.Entries, e)
		} else {
			d.Dropped++
		}
		b, _ := json.Marshal(d)
		return b, true
	})
	if err != nil || !created {
		return err
	}
	ref := &DigestRef{To: to, Hour: hour.Unix()}
	return s.q.publish(ctx, &Notification{Kind: KindDigest, Key: "digest:" + to + ":" + strconv.FormatInt(hour.Unix(), 10), Digest: ref}, 0)
}

func (s *Sender) deliverDigest(ctx context.Context, n *Notification) error {
	if s.mailer == nil {
		return permanent(ErrNoSMTP)
	}
	if n.Digest == nil {
		return permanent(errors.New("digest without a recipient"))
	}
	if done, _ := s.q.isDeliveredRaw(ctx, hashKey(n.Key)); done {
		return nil
	}
	hour := time.Unix(n.Digest.Hour, 0)
	e, err := s.q.caps.Get(ctx, digestKey(n.Digest.To, hour))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil // expired: nothing to send
	}
	if err != nil {
		return err
	}
	var d digestRecord
	if err := json.Unmarshal(e.Value(), &d); err != nil {
		return permanent(err)
	}
	m, err := digestMail(n.Digest.To, hour, d.Entries, d.Dropped)
	if err != nil {
		return permanent(err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AttemptTimeout)
	defer cancel()
	if err := s.mailer.Send(ctx, n.Key, m); err != nil {
		return err
	}
	return s.q.markDeliveredRaw(ctx, hashKey(n.Key))
}

// update changes a caps record with a compare-and-set; change gets nil
// when the record is new, and returns false to leave it as it is.
func (q *Queue) update(ctx context.Context, key string, change func(old []byte) ([]byte, bool)) error {
	for range 20 {
		e, err := q.caps.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			v, write := change(nil)
			if !write {
				return nil
			}
			if _, err := q.caps.Create(ctx, key, v); err == nil {
				return nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		v, write := change(e.Value())
		if !write {
			return nil
		}
		if _, err := q.caps.Update(ctx, key, v, e.Revision()); err == nil {
			return nil
		}
	}
	return fmt.Errorf("notify: %s: too much contention", key)
}
