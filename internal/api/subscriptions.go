package api

import (
	"context"
	"errors"
	"net/url"
	"strconv"

	"github.com/faultline/faultline/internal/meta"
	"github.com/faultline/faultline/internal/notify"
	"github.com/faultline/faultline/internal/store"
)

// IssueMailer queues mails to an issue's subscribers (notify.Queue
// implements it; it answers notify.ErrNoSMTP without SMTP).
type IssueMailer interface {
	EnqueueIssueMail(ctx context.Context, key, to, issue, text, link string) error
}

// maxSubscriberMails bounds the mails one change queues.
const maxSubscriberMails = 200

// mailSubscribers mails an issue's subscribers, but the one who made the
// change, about it: what is the line the mail says, key the change's
// idempotency key (a mail per subscriber and change, whatever retries).
// Mail is best effort for the change: a failure to queue is logged, the
// change stays. Without SMTP nothing is queued (DECISIONS: skipped).
func (a *API) mailSubscribers(ctx context.Context, is *store.Issue, actorID uint64, key, what string) {
	if a.cfg.Subscriptions == nil || a.cfg.Users == nil {
		return
	}
	subs, err := a.store.Subscribers(ctx, is.ProjectID, is.GroupID)
	if err != nil {
		a.log.Warn("issue subscribers", "project_id", is.ProjectID, "group_id", is.GroupID, "err", err)
		return
	}
	p, ok := a.meta.ProjectByID(is.ProjectID)
	if !ok {
		return
	}
	o, ok := a.meta.OrganizationByID(p.OrgID)
	if !ok {
		return
	}
	title := meta.ShortID(p.Slug, is.ShortID) + " " + is.Title
	link := a.public.String() + "/organizations/" + url.PathEscape(o.Slug) + "/issues/" + strconv.FormatUint(is.GroupID, 10) + "/"
	sent := 0
	for _, uid := range subs {
		if uid == actorID || sent >= maxSubscriberMails {
			continue
		}
		u, ok := a.cfg.Users.User(uid)
		if !ok || u.Email == "" || !o.HasMember(uid) {
			continue // no longer a member: no mail about the organization
		}
		err := a.cfg.Subscriptions.EnqueueIssueMail(ctx, key+":"+strconv.FormatUint(uid, 10), u.Email, title, what, link)
		if errors.Is(err, notify.ErrNoSMTP) {
			return
		}
		if err != nil {
			a.log.Warn("queue a subscriber's mail", "group_id", is.GroupID, "err", err)
			continue
		}
		sent++
	}
}

// actorName is how a mail names who made a change.
func (a *API) actorName(id uint64) string {
	if id == 0 || a.cfg.Users == nil {
		return "Faultline"
	}
	if u, ok := a.cfg.Users.User(id); ok {
		return orName(u.Name, u.Email)
	}
	return "Someone"
}

func orName(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
