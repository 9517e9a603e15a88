package sourcemap

import "context"

// Artifact is one uploaded file: a minified source, its source map or an original source.
type Artifact struct {
	URL     string            // as uploaded: "~/static/app.min.js" or a full URL
	Kind    string            // "source", "minified_source" or "source_map"
	Headers map[string]string // lower-cased names, e.g. "sourcemap", "debug-id"
	Body    []byte            // the file's bytes (bounded by the upload limits)
}

// Artifacts finds uploaded files for symbolication. Every lookup is scoped to
// the project; a file that is not there is (nil, nil).
type Artifacts interface {
	// ByDebugID returns the file of the given kind ("minified_source" or
	// "source_map") that carries that debug id.
	ByDebugID(ctx context.Context, projectID uint64, debugID, kind string) (*Artifact, error)
	// ByURL returns the file uploaded for (release, dist) under exactly that
	// URL ("~/path" or a full URL).
	ByURL(ctx context.Context, projectID uint64, release, dist, url string) (*Artifact, error)
}
