package notify

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strconv"

	"github.com/faultline/faultline/internal/meta"
)

// SubscriberStore lists an issue's subscribers (store.Store implements
// it).
type SubscriberStore interface {
	Subscribers(ctx context.Context, projectID, groupID uint64) ([]uint64, error)
}

// SubscriberDirectory resolves users, projects and organizations
// (meta.Store implements it).
type SubscriberDirectory interface {
	ProjectByID(id uint64) (*meta.Project, bool)
	OrganizationByID(id uint64) (*meta.Organization, bool)
	User(id uint64) (*meta.User, bool)
}

// MaxSubscriberMails bounds the mails one change of an issue queues.
const MaxSubscriberMails = 200

// SubscriberMailer mails an issue's subscribers about what happened to it
// outside a request: the worker's regressions (comments and assignments
// are mailed by the API). Mails go through the queue's idempotency key,
// retries, hourly cap and digest; without SMTP nothing is queued.
type SubscriberMailer struct {
	Queue     *Queue
	Store     SubscriberStore
	Directory SubscriberDirectory
	PublicURL string
	Log       *slog.Logger
}

// MailSubscribers queues a mail to each subscriber of an issue that is
// still a member of its organization, under key plus the user (one mail
// per subscriber and change, however often the change is processed):
// what is the mail's line. It answers how many mails it queued; without
// SMTP, none (ErrNoSMTP is not an error here: skipped).
func (m *SubscriberMailer) MailSubscribers(ctx context.Context, projectID, groupID, shortID uint64, title, what, key string) (int, error) {
	if m == nil || m.Queue == nil || !m.Queue.MailEnabled() {
		return 0, nil
	}
	subs, err := m.Store.Subscribers(ctx, projectID, groupID)
	if err != nil || len(subs) == 0 {
		return 0, err
	}
	p, ok := m.Directory.ProjectByID(projectID)
	if !ok {
		return 0, nil
	}
	o, ok := m.Directory.OrganizationByID(p.OrgID)
	if !ok {
		return 0, nil
	}
	issue := meta.ShortID(p.Slug, shortID) + " " + title
	link := m.PublicURL + "/organizations/" + url.PathEscape(o.Slug) + "/issues/" + strconv.FormatUint(groupID, 10) + "/"
	sent := 0
	for _, uid := range subs {
		if sent >= MaxSubscriberMails {
			break
		}
		u, ok := m.Directory.User(uid)
		if !ok || u.Email == "" || !o.HasMember(uid) {
			continue // no longer a member: no mail about the organization
		}
		err := m.Queue.EnqueueIssueMail(ctx, key+":"+strconv.FormatUint(uid, 10), u.Email, issue, what, link)
		if errors.Is(err, ErrNoSMTP) {
			return sent, nil
		}
		if err != nil {
			return sent, err
		}
		sent++
	}
	return sent, nil
}
