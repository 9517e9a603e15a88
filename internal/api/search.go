package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/faultline/faultline/internal/store"
)

// maxSearchTerms bounds the conditions one search adds to a query.
const maxSearchTerms = store.MaxSearchTerms

// parseEventSearch reads the subset of Sentry's search syntax that event
// lists support, with the store's one tokenizer (store.SearchTokens):
// key:value tag terms (!key:value negated; user.id, user.email,
// user.username and user.ip name the user's fields), free text matched
// against the title and the message (message:text too), and double quotes
// around a value or a phrase. Comparison operators and wildcards are
// refused.
func parseEventSearch(q string) (tags []store.TagFilter, text []string, err error) {
	toks, err := store.SearchTokens(q)
	if err != nil {
		return nil, nil, searchError(err)
	}
	for _, t := range toks {
		if t.Key == "" {
			if t.Value != "" {
				text = append(text, t.Value)
			}
			continue
		}
		if !t.Quoted && (strings.ContainsAny(t.Value, "*") || strings.HasPrefix(t.Value, ">") || strings.HasPrefix(t.Value, "<")) {
			return nil, nil, errorf(http.StatusBadRequest, "Invalid search query: %q: only key:value terms are supported.", t.Key)
		}
		if t.Key == "message" && !t.Negate {
			if t.Value != "" {
				text = append(text, t.Value)
			}
			continue
		}
		tags = append(tags, store.TagFilter{Key: t.Key, Value: t.Value, Negate: t.Negate})
	}
	return tags, text, nil
}

// searchError turns the parser's refusal into Sentry's 400 {"detail"}.
func searchError(err error) error {
	if store.IsSearchError(err) {
		return errorf(http.StatusBadRequest, "%s", err.Error())
	}
	return err
}

// parseIssueSearch reads an issue list's query parameter. Without one,
// Sentry's default search applies (is:unresolved); an empty one lists
// every status.
func parseIssueSearch(q string, present bool) (store.IssueSearch, error) {
	if !present {
		return store.IssueSearch{Status: store.StatusUnresolved, StatusSet: true}, nil
	}
	s, err := store.ParseIssueSearch(q)
	if err != nil {
		return s, searchError(err)
	}
	return s, nil
}

// resolveLatestRelease resolves release:latest in the issue search: the
// project's latest release in its release order (semantic versions when
// its releases follow them, else the date each was added), "" if none.
// A search over several projects would need each project's own latest
// release; it is refused until a list over several projects offers it.
func (a *API) resolveLatestRelease(ctx context.Context, projectIDs []uint64) (string, error) {
	if len(projectIDs) != 1 {
		return "", errorf(http.StatusBadRequest, "Invalid search query: release:latest needs a single project.")
	}
	return a.store.LatestRelease(ctx, projectIDs[0])
}
