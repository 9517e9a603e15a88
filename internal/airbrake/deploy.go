package airbrake

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/faultline/faultline/internal/envelope"
	"github.com/faultline/faultline/internal/event"
)

// MaxDeploySize bounds a deploy notification's body.
const MaxDeploySize = 64 << 10

// Deploy is what POST /api/v4/projects/{id}/deploys reports.
type Deploy struct {
	Environment string
	Username    string
	Email       string
	Repository  string
	Revision    string
	Version     string
}

// Release is the release the deploy put out: its version, else its
// revision, as a notice's context.version (else context.revision) names
// the release of an error.
func (d *Deploy) Release() string {
	if d.Version != "" {
		return d.Version
	}
	return d.Revision
}

// ParseDeploy parses a deploy notification. It needs a version or a
// revision: without one there is no release to record.
func ParseDeploy(b []byte) (*Deploy, error) {
	if len(b) > MaxDeploySize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), MaxDeploySize)
	}
	if err := envelope.ValidateJSON(b, MaxDepth); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	fields := object(bytes.TrimSpace(b))
	if fields == nil {
		return nil, invalid("the deploy is not a JSON object")
	}
	get := func(k string) string { return event.Truncate(strings.TrimSpace(text(fields[k])), maxTextLen) }
	d := &Deploy{
		Environment: get("environment"), Username: get("username"), Email: get("email"),
		Repository: get("repository"), Revision: get("revision"), Version: get("version"),
	}
	if d.Release() == "" {
		return nil, invalid("the deploy has neither a version nor a revision")
	}
	return d, nil
}
