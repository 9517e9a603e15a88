package api

import (
	"context"
	"net/http"

	"github.com/faultline/faultline/internal/authz"
	"github.com/faultline/faultline/internal/meta"
)

// organizationUpdate is the part of Sentry's organization PUT body that
// Faultline has; other fields are ignored, as Sentry ignores unknown ones.
type organizationUpdate struct {
	Name           *string `json:"name"`
	Slug           *string `json:"slug"`
	CancelDeletion *bool   `json:"cancelDeletion"`
	OpenMembership *bool   `json:"openMembership"`
}

// updateOrganization is Sentry's PUT /api/0/organizations/{org}/: it
// changes the name and the slug, and {"cancelDeletion": true} cancels a
// pending deletion (the organization, and its projects pending only
// because of it, become active again). The answer is the organization.
func (a *API) updateOrganization(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.lookupOrg(r, c, true)
	if err != nil {
		return nil, err
	}
	var b organizationUpdate
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	// Validate before anything changes.
	if b.Name != nil && (*b.Name == "" || len(*b.Name) > meta.MaxNameLen) {
		return nil, errorf(http.StatusBadRequest, "name: must be 1 to %d characters", meta.MaxNameLen)
	}
	if b.Slug != nil && !meta.ValidSlug(*b.Slug) {
		return nil, errorf(http.StatusBadRequest, "slug: %q must be lowercase letters, digits, - or _ (at most 50)", *b.Slug)
	}
	if b.Slug != nil && *b.Slug != o.Slug {
		if err := a.checkReserved(*b.Slug); err != nil {
			return nil, err
		}
	}
	if b.OpenMembership != nil && *b.OpenMembership != o.OpenMembership && !authz.AtLeast(callerRole(c, o), authz.Manager) {
		return nil, errMemberPermission
	}
	if b.CancelDeletion != nil && *b.CancelDeletion {
		if o, err = a.cancelOrganizationDeletion(ctx, o, c); err != nil {
			return nil, err
		}
	} else if !visibleOrg(o) {
		return nil, errPendingDeletion("organization")
	}
	cp := *o
	if b.Name != nil {
		cp.Name = *b.Name
	}
	if b.Slug != nil {
		cp.Slug = *b.Slug
	}
	if b.OpenMembership != nil {
		cp.OpenMembership = *b.OpenMembership
	}
	if cp.Name != o.Name || cp.Slug != o.Slug || cp.OpenMembership != o.OpenMembership {
		if err := a.meta.UpdateOrganization(ctx, &cp); err != nil {
			return nil, err
		}
	}
	return ok(a.serializeOrg(&cp))
}

// ReserveSlugs sets what organization slugs new organizations (and
// renames) may not take: the route table's first path segments.
func (a *API) ReserveSlugs(reserved func(slug string) bool) { a.reserved = reserved }

// checkReserved refuses a reserved organization slug, with Sentry's words.
// An organization that took a slug before it became reserved keeps it.
func (a *API) checkReserved(slug string) error {
	if a.reserved != nil && a.reserved(slug) {
		return errorf(http.StatusBadRequest, "slug: This slug %q is reserved and not allowed.", slug)
	}
	return nil
}
