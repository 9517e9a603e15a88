package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/faultline/faultline/internal/alert"
)

// ErrNoSMTP is recorded for e-mail actions when no SMTP server is set.
var ErrNoSMTP = errors.New("SMTP not configured")

// SMTPConfig configures the mailer (--smtp-url, --smtp-from). The SMTP
// server is an operator setting: the outbound guard does not apply.
type SMTPConfig struct {
	// URL is smtp://user:pass@host:port (STARTTLS when the server offers
	// it) or smtps://user:pass@host:port (implicit TLS). Empty: no mail.
	URL string
	// From is the sender address (default faultline@<host of the URL>).
	From string
	// HourlyCap is how many mails one recipient gets per hour; the rest
	// of the hour's mails are folded into one digest (default 20).
	HourlyCap int

	host     string
	port     int
	implicit bool
	user     string
	pass     string
}

// Enabled reports whether a mail server is configured.
func (c *SMTPConfig) Enabled() bool { return c.URL != "" }

// Validate parses the URL and fills defaults.
func (c *SMTPConfig) Validate() error {
	if c.HourlyCap == 0 {
		c.HourlyCap = 20
	}
	if c.HourlyCap < 0 {
		return errors.New("notify: the hourly mail cap must be positive")
	}
	if c.URL == "" {
		return nil
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return errors.New("notify: --smtp-url is not a URL") // the URL may hold a password: not repeated
	}
	switch u.Scheme {
	case "smtp":
		c.port = 587
	case "smtps":
		c.port, c.implicit = 465, true
	default:
		return fmt.Errorf("notify: --smtp-url scheme %q: want smtp or smtps", u.Scheme)
	}
	c.host = u.Hostname()
	if c.host == "" {
		return errors.New("notify: --smtp-url needs a host")
	}
	if p := u.Port(); p != "" {
		if c.port, err = strconv.Atoi(p); err != nil || c.port <= 0 || c.port > 65535 {
			return errors.New("notify: --smtp-url has a bad port")
		}
	}
	if u.User != nil {
		c.user = u.User.Username()
		c.pass, _ = u.User.Password()
	}
	if c.From == "" {
		c.From = "faultline@" + c.host
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("notify: --smtp-from: %w", err)
	}
	return nil
}

// Mail is one message to one recipient.
type Mail struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
}

// Mailer sends mail through the configured SMTP server.
type Mailer struct {
	cfg SMTPConfig
}

// NewMailer returns a mailer; cfg must be validated and enabled.
func NewMailer(cfg SMTPConfig) *Mailer { return &Mailer{cfg: cfg} }

// Send sends one mail; key becomes its Message-ID's local part, so that a
// repeated delivery is recognizable.
func (m *Mailer) Send(ctx context.Context, key string, ml Mail) error {
	msg := gomail.NewMsg()
	if err := msg.From(m.cfg.From); err != nil {
		return err
	}
	if err := msg.To(ml.To); err != nil {
		return err
	}
	msg.Subject(ml.Subject)
	msg.SetDate()
	msg.SetGenHeader("Message-ID", "<"+hashKey(key+"\x00"+ml.To)+"@faultline>")
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, ml.Text)
	if ml.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, ml.HTML)
	}
	opts := []gomail.Option{gomail.WithPort(m.cfg.port), gomail.WithTimeout(30 * time.Second)}
	if m.cfg.implicit {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if m.cfg.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain), gomail.WithUsername(m.cfg.user), gomail.WithPassword(m.cfg.pass))
	}
	c, err := gomail.NewClient(m.cfg.host, opts...)
	if err != nil {
		return err
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp %s: %w", net.JoinHostPort(m.cfg.host, strconv.Itoa(m.cfg.port)), err)
	}
	return nil
}

var textTmpl = texttemplate.Must(texttemplate.New("text").Parse(`{{.Trigger}}: {{.Title}}

Project:     {{.Project}}
{{if .F.Issue.Culprit}}Culprit:     {{.F.Issue.Culprit}}
{{end}}{{if .F.Issue.Environment}}Environment: {{.F.Issue.Environment}}
{{end}}{{if .F.Issue.Release}}Release:     {{.F.Issue.Release}}
{{end}}Level:       {{.F.Issue.Level}}
{{if .F.Issue.TimesSeen}}Events:      {{.F.Issue.TimesSeen}}
{{end}}{{if .F.Issue.Users}}Users:       {{.F.Issue.Users}}
{{end}}{{if .F.Issue.Frames}}
Stack (most recent call first):
{{range .F.Issue.Frames}}  {{.Function}} in {{.Filename}} line {{.LineNo}}
{{end}}{{end}}
View the issue: {{.F.Issue.URL}}

Rule: {{.F.RuleName}}
`))

var htmlTmpl = htmltemplate.Must(htmltemplate.New("html").Parse(`<!doctype html>
<html><body style="font-family:sans-serif">
<p><strong>{{.Trigger}}</strong></p>
<h2><a href="{{.F.Issue.URL}}">{{.Title}}</a></h2>
<table>
<tr><th align="left">Project</th><td>{{.Project}}</td></tr>
{{if .F.Issue.Culprit}}<tr><th align="left">Culprit</th><td>{{.F.Issue.Culprit}}</td></tr>{{end}}
{{if .F.Issue.Environment}}<tr><th align="left">Environment</th><td>{{.F.Issue.Environment}}</td></tr>{{end}}
{{if .F.Issue.Release}}<tr><th align="left">Release</th><td>{{.F.Issue.Release}}</td></tr>{{end}}
<tr><th align="left">Level</th><td>{{.F.Issue.Level}}</td></tr>
{{if .F.Issue.TimesSeen}}<tr><th align="left">Events</th><td>{{.F.Issue.TimesSeen}}</td></tr>{{end}}
{{if .F.Issue.Users}}<tr><th align="left">Users</th><td>{{.F.Issue.Users}}</td></tr>{{end}}
</table>
{{if .F.Issue.Frames}}<pre>{{range .F.Issue.Frames}}{{.Function}} in {{.Filename}} line {{.LineNo}}
{{end}}</pre>{{end}}
<p><a href="{{.F.Issue.URL}}">View the issue</a></p>
<p style="color:#888">Rule: {{.F.RuleName}}</p>
</body></html>
`))

// maxMailFrames bounds the frames a mail shows.
const maxMailFrames = 5

// alertMail renders a firing's mail to one recipient.
func alertMail(f *alert.Fired, project, to string) (Mail, error) {
	g := *f
	if len(g.Issue.Frames) > maxMailFrames {
		g.Issue.Frames = g.Issue.Frames[:maxMailFrames]
	}
	data := map[string]any{"F": &g, "Trigger": triggerText(f.Trigger), "Title": issueTitle(f), "Project": project}
	var t, h bytes.Buffer
	if err := textTmpl.Execute(&t, data); err != nil {
		return Mail{}, err
	}
	if err := htmlTmpl.Execute(&h, data); err != nil {
		return Mail{}, err
	}
	subj := fmt.Sprintf("[%s] %s: %s", project, triggerText(f.Trigger), clip(oneLine(issueTitle(f)), 150))
	return Mail{To: to, Subject: subj, Text: t.String(), HTML: h.String()}, nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// digestEntry is one mail folded into a digest.
type digestEntry struct {
	Subject string `json:"subject"`
	URL     string `json:"url,omitempty"`
}

// maxDigestEntries bounds a digest.
const maxDigestEntries = 100

var digestHTML = htmltemplate.Must(htmltemplate.New("digest").Parse(`<!doctype html>
<html><body style="font-family:sans-serif">
<p>{{len .Entries}} more notifications{{if .Dropped}} ({{.Dropped}} not listed){{end}} arrived in the hour from {{.Hour}}:</p>
<ul>{{range .Entries}}<li>{{if .URL}}<a href="{{.URL}}">{{.Subject}}</a>{{else}}{{.Subject}}{{end}}</li>{{end}}</ul>
</body></html>
`))

func digestMail(to string, hour time.Time, entries []digestEntry, dropped int) (Mail, error) {
	var t strings.Builder
	fmt.Fprintf(&t, "%d more notifications arrived in the hour from %s", len(entries), hour.UTC().Format(time.RFC3339))
	if dropped > 0 {
		fmt.Fprintf(&t, " (%d not listed)", dropped)
	}
	t.WriteString(":\n\n")
	for _, e := range entries {
		fmt.Fprintf(&t, "- %s\n  %s\n", e.Subject, e.URL)
	}
	var h bytes.Buffer
	if err := digestHTML.Execute(&h, map[string]any{"Entries": entries, "Dropped": dropped, "Hour": hour.UTC().Format(time.RFC3339)}); err != nil {
		return Mail{}, err
	}
	return Mail{To: to, Subject: fmt.Sprintf("[Faultline] Digest: %d notifications", len(entries)+dropped), Text: t.String(), HTML: h.String()}, nil
}

var inviteHTML = htmltemplate.Must(htmltemplate.New("invite").Parse(`<!doctype html>
<html><body style="font-family:sans-serif">
<p>You are invited to join <strong>{{.Org}}</strong> on Faultline.</p>
<p><a href="{{.Link}}">Accept the invitation</a></p>
<p style="color:#888">If you did not expect this invitation, ignore this mail.</p>
</body></html>
`))

// EnqueueInvitation queues the invitation mail of a pending member (the
// accounts' invitations go through the same queue as alerts). It fails
// with ErrNoSMTP without a mail server: the inviter is shown the link in
// any case.
func (q *Queue) EnqueueInvitation(ctx context.Context, memberID uint64, org, to, link string) error {
	if !q.cfg.SMTP.Enabled() {
		return ErrNoSMTP
	}
	var h bytes.Buffer
	if err := inviteHTML.Execute(&h, map[string]string{"Org": org, "Link": link}); err != nil {
		return err
	}
	m := Mail{To: to, Subject: "Join " + oneLine(org) + " on Faultline",
		Text: "You are invited to join " + org + " on Faultline.\n\nAccept the invitation: " + link +
			"\n\nIf you did not expect this invitation, ignore this mail.\n",
		HTML: h.String()}
	return q.EnqueueMail(ctx, "invite:"+strconv.FormatUint(memberID, 10), m)
}

var issueMailHTML = htmltemplate.Must(htmltemplate.New("issue").Parse(`<!doctype html>
<html><body style="font-family:sans-serif">
<p><strong>{{.Issue}}</strong></p>
<p style="white-space:pre-wrap">{{.Text}}</p>
<p><a href="{{.Link}}">Open the issue</a></p>
<p style="color:#888">You get this mail because you are subscribed to the issue. Unsubscribe on its page.</p>
</body></html>
`))

// EnqueueIssueMail queues a mail to a subscriber of an issue (a comment,
// an assignment, a regression), under key, through the queue's retries,
// hourly cap and digest. Without SMTP it is ErrNoSMTP and nothing is
// queued.
func (q *Queue) EnqueueIssueMail(ctx context.Context, key, to, issue, text, link string) error {
	if !q.cfg.SMTP.Enabled() {
		return ErrNoSMTP
	}
	var h bytes.Buffer
	if err := issueMailHTML.Execute(&h, map[string]string{"Issue": issue, "Text": text, "Link": link}); err != nil {
		return err
	}
	m := Mail{To: to, Subject: "[Faultline] " + clip(oneLine(issue), 150),
		Text: issue + "\n\n" + text + "\n\nOpen the issue: " + link +
			"\n\nYou get this mail because you are subscribed to the issue. Unsubscribe on its page.\n",
		HTML: h.String()}
	return q.EnqueueMail(ctx, key, m)
}
