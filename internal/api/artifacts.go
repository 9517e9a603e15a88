package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/faultline/faultline/internal/artifact"
	"github.com/faultline/faultline/internal/meta"
)

// Artifacts keeps what sentry-cli uploads for source maps (artifact.Store
// implements it).
type Artifacts interface {
	Config() artifact.Config
	PutChunk(ctx context.Context, org uint64, sha string, data []byte) error
	Assemble(ctx context.Context, req artifact.AssembleRequest) (*artifact.AssembleAnswer, error)
	PutReleaseFile(ctx context.Context, org uint64, projects []uint64, release string, f artifact.File, body []byte) (*artifact.ReleaseFile, error)
	ReleaseFiles(ctx context.Context, org uint64, release string, pid uint64) ([]artifact.ReleaseFile, error)
	ReleaseFile(ctx context.Context, org uint64, release, id string, pid uint64) (*artifact.ReleaseFile, error)
	ReleaseFileBody(ctx context.Context, org uint64, f *artifact.ReleaseFile) ([]byte, error)
	DeleteReleaseFile(ctx context.Context, org uint64, release, id string, pid uint64) (bool, error)
}

// artifactError maps the artifact store's errors to Sentry's answers.
func artifactError(err error) error {
	switch {
	case errors.Is(err, artifact.ErrTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, "%s", strings.TrimPrefix(err.Error(), "too large: "))
	case errors.Is(err, artifact.ErrChecksum):
		return errorf(http.StatusBadRequest, "Checksum mismatch: the bytes do not match the SHA-1 they were sent under.")
	case errors.Is(err, artifact.ErrFull):
		return errorf(http.StatusServiceUnavailable, "The upload store is full; try again later.")
	case errors.Is(err, artifact.ErrExists):
		return errorf(http.StatusConflict, "A file matching this name already exists for the given release")
	}
	return err
}

// chunkUploadOptions serves GET /api/0/organizations/{org}/chunk-upload/:
// what sentry-cli needs to upload. It advertises only what is served:
// release files and artifact bundles, not debug files.
func (a *API) chunkUploadOptions(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	cfg := a.cfg.Artifacts.Config()
	return ok(map[string]any{
		"url":              a.public.String() + "/api/0/organizations/" + o.Slug + "/chunk-upload/",
		"chunkSize":        artifact.ChunkSize,
		"chunksPerRequest": artifact.ChunksPerRequest,
		"maxFileSize":      cfg.MaxBundleSize,
		"maxRequestSize":   artifact.MaxRequestSize,
		"concurrency":      artifact.Concurrency,
		"hashAlgorithm":    "sha1",
		"compression":      []string{"gzip"},
		"accept":           []string{"release_files", "artifact_bundles", "artifact_bundles_v2"},
	})
}

// chunkUpload serves POST /api/0/organizations/{org}/chunk-upload/: a
// multipart body of chunks (file_gzip or file parts), each named by the
// SHA-1 of its uncompressed bytes, which is checked.
func (a *API) chunkUpload(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	r.Body = http.MaxBytesReader(nil, r.Body, artifact.MaxRequestSize+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "Expected a multipart body of chunks.")
	}
	n := 0
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, bodyError(err)
		}
		name := part.FormName()
		if name != "file" && name != "file_gzip" {
			part.Close()
			continue
		}
		if n++; n > artifact.ChunksPerRequest {
			return nil, errorf(http.StatusBadRequest, "At most %d chunks may be sent at once.", artifact.ChunksPerRequest)
		}
		sha := strings.ToLower(part.FileName())
		if !artifact.ValidSHA1(sha) {
			return nil, errorf(http.StatusBadRequest, "A chunk must be named by the SHA-1 of its bytes.")
		}
		var src io.Reader = part
		if name == "file_gzip" {
			zr, err := gzip.NewReader(part)
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "Chunk %s is not valid gzip.", sha)
			}
			src = zr
		}
		data, err := io.ReadAll(io.LimitReader(src, artifact.ChunkSize+1))
		if err != nil {
			if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
				return nil, bodyError(err)
			}
			return nil, errorf(http.StatusBadRequest, "Chunk %s could not be read.", sha)
		}
		if len(data) > artifact.ChunkSize {
			return nil, errorf(http.StatusRequestEntityTooLarge, "A chunk may be at most %d bytes.", artifact.ChunkSize)
		}
		if err := a.cfg.Artifacts.PutChunk(ctx, o.ID, sha, data); err != nil {
			return nil, artifactError(err)
		}
	}
	return ok(map[string]any{})
}

func bodyError(err error) error {
	if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
		return errorf(http.StatusRequestEntityTooLarge, "Request body too large.")
	}
	return errorf(http.StatusBadRequest, "Malformed multipart body.")
}

// assembleBody is the body of both assemble routes.
type assembleBody struct {
	Checksum string   `json:"checksum"`
	Chunks   []string `json:"chunks"`
	Projects []string `json:"projects"`
	Version  string   `json:"version"`
	Dist     string   `json:"dist"`
}

func (a *API) checkAssemble(b *assembleBody) error {
	b.Checksum = strings.ToLower(b.Checksum)
	if !artifact.ValidSHA1(b.Checksum) {
		return errorf(http.StatusBadRequest, "Invalid checksum: expected the SHA-1 of the bundle.")
	}
	max := int(a.cfg.Artifacts.Config().MaxBundleSize/artifact.ChunkSize) + 1
	if len(b.Chunks) > max {
		return errorf(http.StatusRequestEntityTooLarge, "%d chunks are more than a bundle of at most %d bytes holds.", len(b.Chunks), a.cfg.Artifacts.Config().MaxBundleSize)
	}
	for i, ch := range b.Chunks {
		b.Chunks[i] = strings.ToLower(ch)
		if !artifact.ValidSHA1(b.Chunks[i]) {
			return errorf(http.StatusBadRequest, "Invalid chunk checksum.")
		}
	}
	if len(b.Version) > 200 || len(b.Dist) > 64 {
		return errorf(http.StatusBadRequest, "The version or dist is too long.")
	}
	return nil
}

// assembleBundle serves POST /api/0/organizations/{org}/artifactbundle/assemble/.
func (a *API) assembleBundle(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, err := a.org(r, c)
	if err != nil {
		return nil, err
	}
	var b assembleBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	if err := a.checkAssemble(&b); err != nil {
		return nil, err
	}
	if len(b.Projects) == 0 {
		return nil, errorf(http.StatusBadRequest, "You need to specify at least one project.")
	}
	var ids []uint64
	for _, slug := range b.Projects {
		p, found := a.meta.Project(o.ID, slug)
		if !found || !visibleProject(p) || !a.canSeeProject(c, o, p) {
			return nil, errorf(http.StatusBadRequest, "One or more projects are invalid.")
		}
		if !containsUint(ids, p.ID) {
			ids = append(ids, p.ID)
		}
	}
	if b.Version != "" && !validVersion(b.Version) {
		return nil, errorf(http.StatusBadRequest, "Invalid version.")
	}
	ans, err := a.cfg.Artifacts.Assemble(ctx, artifact.AssembleRequest{Kind: artifact.AssembleBundle, OrgID: o.ID,
		Checksum: b.Checksum, Chunks: b.Chunks, Projects: ids, Release: b.Version, Dist: b.Dist})
	if err != nil {
		return nil, artifactError(err)
	}
	return ok(ans)
}

func containsUint(ids []uint64, id uint64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// releaseOf resolves the {version} of a release route to the release's
// projects the caller sees (on a project route, that project only).
func (a *API) releaseOf(ctx context.Context, r *http.Request, c *caller) (*meta.Organization, []uint64, uint64, error) {
	rs, err := a.releaseScopeOf(r, c)
	if err != nil {
		return nil, nil, 0, err
	}
	rel, err := a.store.GetRelease(ctx, rs.org.ID, rs.ids, r.PathValue("version"))
	if err != nil {
		return nil, nil, 0, err
	}
	if rel == nil {
		return nil, nil, 0, errNotFound
	}
	var ids []uint64
	for _, rp := range rel.Projects {
		if rs.byID(rp.ProjectID) != nil {
			ids = append(ids, rp.ProjectID)
		}
	}
	if len(ids) == 0 {
		return nil, nil, 0, errNotFound
	}
	var pid uint64
	if rs.project != nil {
		pid = rs.project.ID
	}
	return rs.org, ids, pid, nil
}

// assembleRelease serves POST /api/0/organizations/{org}/releases/{version}/assemble/:
// a bundle whose files become the release's files (sentry-cli 2.x
// without a project).
func (a *API) assembleRelease(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, ids, _, err := a.releaseOf(ctx, r, c)
	if err != nil {
		return nil, err
	}
	var b assembleBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	if err := a.checkAssemble(&b); err != nil {
		return nil, err
	}
	ans, err := a.cfg.Artifacts.Assemble(ctx, artifact.AssembleRequest{Kind: artifact.AssembleRelease, OrgID: o.ID,
		Checksum: b.Checksum, Chunks: b.Chunks, Projects: ids, Release: r.PathValue("version")})
	if err != nil {
		return nil, artifactError(err)
	}
	return ok(ans)
}

// serializeReleaseFile renders a release file as Sentry's
// ReleaseFileSerializer.
func serializeReleaseFile(f *artifact.ReleaseFile) map[string]any {
	var dist any
	if f.Dist != "" {
		dist = f.Dist
	}
	h := f.Headers
	if h == nil {
		h = map[string]string{}
	}
	return map[string]any{
		"id":          f.ID,
		"name":        f.Name,
		"dist":        dist,
		"headers":     h,
		"size":        f.Size,
		"sha1":        f.SHA1,
		"dateCreated": f.Created.UTC().Format(time.RFC3339Nano),
	}
}

// listReleaseFiles serves GET .../releases/{version}/files/.
func (a *API) listReleaseFiles(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, _, pid, err := a.releaseOf(ctx, r, c)
	if err != nil {
		return nil, err
	}
	files, err := a.cfg.Artifacts.ReleaseFiles(ctx, o.ID, r.PathValue("version"), pid)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(files))
	for i := range files {
		out = append(out, serializeReleaseFile(&files[i]))
	}
	return ok(out)
}

// getReleaseFile serves GET .../releases/{version}/files/{file_id}/;
// with ?download=1, the file's bytes.
func (a *API) getReleaseFile(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, _, pid, err := a.releaseOf(ctx, r, c)
	if err != nil {
		return nil, err
	}
	f, err := a.cfg.Artifacts.ReleaseFile(ctx, o.ID, r.PathValue("version"), r.PathValue("file_id"), pid)
	if err != nil {
		return nil, err
	}
	if f == nil {
		return nil, errNotFound
	}
	if v := r.URL.Query().Get("download"); v == "1" || v == "true" {
		body, err := a.cfg.Artifacts.ReleaseFileBody(ctx, o.ID, f)
		if err != nil {
			return nil, err
		}
		if body == nil {
			return nil, errNotFound
		}
		name := f.Name
		if i := strings.LastIndex(name, "/"); i >= 0 {
			name = name[i+1:]
		}
		return &response{status: http.StatusOK, download: &download{name: name, contentType: "application/octet-stream",
			size: uint64(len(body)), body: io.NopCloser(bytes.NewReader(body))}}, nil
	}
	return ok(serializeReleaseFile(f))
}

// deleteReleaseFile serves DELETE .../releases/{version}/files/{file_id}/.
func (a *API) deleteReleaseFile(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, _, pid, err := a.releaseOf(ctx, r, c)
	if err != nil {
		return nil, err
	}
	found, err := a.cfg.Artifacts.DeleteReleaseFile(ctx, o.ID, r.PathValue("version"), r.PathValue("file_id"), pid)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errNotFound
	}
	return &response{status: http.StatusNoContent}, nil
}

// uploadReleaseFile serves POST .../releases/{version}/files/: Sentry's
// legacy upload, a multipart body with file, name, dist and header
// ("Name: value", repeated) fields.
func (a *API) uploadReleaseFile(ctx context.Context, r *http.Request, c *caller) (*response, error) {
	o, ids, pid, err := a.releaseOf(ctx, r, c)
	if err != nil {
		return nil, err
	}
	if pid != 0 {
		ids = []uint64{pid}
	}
	max := a.cfg.Artifacts.Config().MaxFileSize
	r.Body = http.MaxBytesReader(nil, r.Body, max+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "Missing uploaded file")
	}
	var f artifact.File
	var body []byte
	var fileName string
	var haveFile bool
	f.Headers = map[string]string{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, bodyError(err)
		}
		switch part.FormName() {
		case "file":
			fileName = part.FileName()
			if body, err = readPart(part, max); err != nil {
				return nil, err
			}
			haveFile = true
		case "name", "dist", "header":
			v, err := readPart(part, 8<<10)
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "A form field is too long.")
			}
			switch part.FormName() {
			case "name":
				f.Name = string(v)
			case "dist":
				f.Dist = string(v)
			default:
				k, val, found := strings.Cut(string(v), ":")
				if !found || strings.TrimSpace(k) == "" {
					return nil, errorf(http.StatusBadRequest, "header value was not formatted correctly")
				}
				f.Headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(val)
			}
		}
		part.Close()
	}
	if !haveFile {
		return nil, errorf(http.StatusBadRequest, "Missing uploaded file")
	}
	if f.Name == "" {
		f.Name = fileName
	}
	if f.Name == "" || len(f.Name) > 2048 {
		return nil, errorf(http.StatusBadRequest, "File name must be specified")
	}
	if len(f.Dist) > 64 {
		return nil, errorf(http.StatusBadRequest, "Dist name is too long.")
	}
	if len(f.Headers) > 32 {
		return nil, errorf(http.StatusBadRequest, "Too many headers.")
	}
	f.Type = releaseFileType(f.Name, f.Headers, body)
	if f.Type == artifact.KindMinifiedSource && f.Headers["debug-id"] == "" {
		if id := debugIDComment(body); id != "" {
			f.Headers["debug-id"] = id
		}
	}
	rf, err := a.cfg.Artifacts.PutReleaseFile(ctx, o.ID, ids, r.PathValue("version"), f, body)
	if err != nil {
		return nil, artifactError(err)
	}
	return created(serializeReleaseFile(rf))
}

// readPart reads a multipart part of at most max bytes (413 beyond).
func readPart(part *multipart.Part, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(part, max+1))
	if err != nil {
		return nil, bodyError(err)
	}
	if int64(len(b)) > max {
		return nil, errorf(http.StatusRequestEntityTooLarge, "The file is larger than the limit of %d bytes (--artifact-max-file-size).", max)
	}
	return b, nil
}

// releaseFileType guesses what a legacy release file is, as Sentry's
// symbolicator does from its name and content.
func releaseFileType(name string, headers map[string]string, body []byte) string {
	n := name
	if i := strings.IndexAny(n, "?#"); i >= 0 {
		n = n[:i]
	}
	switch {
	case strings.HasSuffix(n, ".map"), bytes.HasPrefix(bytes.TrimSpace(body), []byte(`{"version":3`)),
		bytes.HasPrefix(bytes.TrimSpace(body), []byte(`{"version": 3`)):
		return artifact.KindSourceMap
	case headers["sourcemap"] != "" || headers["x-sourcemap"] != "" || bytes.Contains(body, []byte("//# sourceMappingURL=")):
		return artifact.KindMinifiedSource
	case strings.HasSuffix(n, ".min.js"):
		return artifact.KindMinifiedSource
	}
	return artifact.KindSource
}

// debugIDComment finds the "//# debugId=" comment sentry-cli injects near
// the end of a minified file.
func debugIDComment(body []byte) string {
	tail := body
	if len(tail) > 4096 {
		tail = tail[len(tail)-4096:]
	}
	i := bytes.LastIndex(tail, []byte("//# debugId="))
	if i < 0 {
		return ""
	}
	id, _, _ := bytes.Cut(tail[i+len("//# debugId="):], []byte("\n"))
	if s := strings.TrimSpace(string(id)); artifact.NormalizeDebugID(s) != "" && len(s) <= 64 {
		return s
	}
	return ""
}
