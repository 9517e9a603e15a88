package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// ErrForbiddenAddress is returned when an outbound request would reach an
// address the guard refuses (server-side request forgery).
var ErrForbiddenAddress = errors.New("notify: destination address not allowed")

// Guard refuses outbound connections to loopback, link-local, private,
// unspecified and multicast addresses, unless AllowPrivate is set. It
// covers the URLs that tenants or events supply (webhooks, Slack, Discord
// and Teams URLs, rule test-fires); operator settings such as SMTP are
// trusted and do not go through it.
type Guard struct {
	// AllowPrivate (--webhook-allow-private) lets requests reach any
	// address, e.g. a webhook receiver on the same host.
	AllowPrivate bool
}

// Allowed reports whether ip may be dialed.
func (g Guard) Allowed(ip netip.Addr) bool {
	if g.AllowPrivate {
		return true
	}
	ip = ip.Unmap()
	return ip.IsValid() && !(ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsPrivate() || ip.IsUnspecified() ||
		cgnat.Contains(ip) || ip == broadcast)
}

var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10") // shared address space (RFC 6598)
	broadcast = netip.MustParseAddr("255.255.255.255")
)

// control runs after name resolution, on the address actually dialed, so
// that DNS rebinding cannot get past it.
func (g Guard) control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, host)
	}
	if !g.Allowed(ip) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ip)
	}
	return nil
}

// maxRedirects bounds the redirects a notification request follows.
const maxRedirects = 3

// Client returns an HTTP client whose every connection, redirects
// included, goes through the guard. It ignores proxy settings from the
// environment, which would make the guard check the proxy's address.
func (g Guard) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, Control: g.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		IdleConnTimeout:       60 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return errors.New("notify: too many redirects")
			}
			return CheckURL(req.URL.String())
		},
	}
}

// CheckURL checks that a webhook URL is an absolute http(s) URL with a
// host. The address it resolves to is checked when it is dialed.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("notify: bad URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("notify: URL scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" || u.User != nil {
		return errors.New("notify: URL needs a host and no user info")
	}
	return nil
}

// DialContext dials through the guard, for callers that need a guarded
// dialer of their own (source-map fetching, say).
func (g Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, Control: g.control}
	return d.DialContext(ctx, network, address)
}
