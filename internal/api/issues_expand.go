package api

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/faultline/faultline/internal/store"
)

// expands reports whether the list's expand parameters (repeated, or
// comma-separated) name x. Sentry's issue lists take expand=owners,
// inbox...; Faultline adds firstRelease, which the web UI's list shows.
func expands(q url.Values, x string) bool {
	for _, v := range q["expand"] {
		if slices.Contains(strings.Split(v, ","), x) {
			return true
		}
	}
	return false
}

// withFirstReleases sets each listed issue's firstRelease ({version,
// shortVersion}, or null for an issue whose events name no release):
// one query for the page.
func (a *API) withFirstReleases(ctx context.Context, issues []store.Issue, out []map[string]any) error {
	if len(issues) == 0 {
		return nil
	}
	var pids, gids []uint64
	for _, is := range issues {
		if !slices.Contains(pids, is.ProjectID) {
			pids = append(pids, is.ProjectID)
		}
		gids = append(gids, is.GroupID)
	}
	first, err := a.store.FirstReleases(ctx, pids, gids)
	if err != nil {
		return err
	}
	for i, is := range issues {
		out[i]["firstRelease"] = nil
		if v, ok := first[is.GroupID]; ok {
			out[i]["firstRelease"] = map[string]any{"version": v, "shortVersion": v}
		}
	}
	return nil
}
