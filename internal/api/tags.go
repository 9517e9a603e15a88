package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/faultline/faultline/internal/store"
)

// issueTagValues is Sentry's GET /api/0/issues/{id}/tags/{key}/values/:
// the tag's values on the issue's events, most frequent first.
func (a *API) issueTagValues(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, gid, err := a.issue(ctx, r, c)
	if err != nil {
		return nil, err
	}
	key := r.PathValue("key")
	if key == "" || len(key) > 200 {
		return nil, errorf(http.StatusBadRequest, "Invalid tag key.")
	}
	limit := 100
	if l := r.URL.Query().Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > 1000 {
			return nil, errorf(http.StatusBadRequest, "limit must be between 1 and 1000")
		}
	}
	values, err := a.store.TagValues(ctx, p.ID, gid, key, limit)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(values))
	for _, v := range values {
		out = append(out, map[string]any{
			"key": key, "name": v.Value, "value": v.Value, "count": v.Count,
			"firstSeen": v.FirstSeen.UTC().Format(time.RFC3339), "lastSeen": v.LastSeen.UTC().Format(time.RFC3339),
		})
	}
	return ok(out)
}

// issueTags is Sentry's GET /api/0/issues/{id}/tags/: the tag keys of the
// issue's events, the most set first, each with totalValues (the events
// it is set on) and its topValues (?limit= per key, 1 to 20, default 9).
func (a *API) issueTags(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	_, p, gid, err := a.issue(ctx, r, c)
	if err != nil {
		return nil, err
	}
	limit := 9
	if l := r.URL.Query().Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > store.MaxSummaryTop {
			return nil, errorf(http.StatusBadRequest, "limit must be between 1 and %d", store.MaxSummaryTop)
		}
	}
	keys, err := a.store.TagSummary(ctx, p.ID, gid, limit)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		top := make([]map[string]any, 0, len(k.Values))
		for _, v := range k.Values {
			top = append(top, map[string]any{
				"key": k.Key, "name": v.Value, "value": v.Value, "count": v.Count,
				"firstSeen": v.FirstSeen.UTC().Format(time.RFC3339), "lastSeen": v.LastSeen.UTC().Format(time.RFC3339),
			})
		}
		out = append(out, map[string]any{"key": k.Key, "name": k.Key, "totalValues": k.Total, "topValues": top})
	}
	return ok(out)
}
