package deletion

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/internal/attachment"
)

// AttachmentsBucket is the JetStream object store bucket that keeps
// attachment files.
const AttachmentsBucket = attachment.BucketName

// ObjectBlobs deletes attachment files from a JetStream object store
// bucket in which every object is named "<project_id>/<event_id>/<id>"
// (attachment.Key). A missing bucket holds nothing to delete.
type ObjectBlobs struct {
	JS     jetstream.JetStream
	Bucket string // default AttachmentsBucket
}

func (b *ObjectBlobs) objects(ctx context.Context) (jetstream.ObjectStore, []*jetstream.ObjectInfo, error) {
	bucket := b.Bucket
	if bucket == "" {
		bucket = AttachmentsBucket
	}
	os, err := b.JS.ObjectStore(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("deletion: object store %s: %w", bucket, err)
	}
	list, err := os.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return os, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("deletion: list %s: %w", bucket, err)
	}
	return os, list, nil
}

// DeleteEvents deletes the files of some events of a project.
func (b *ObjectBlobs) DeleteEvents(ctx context.Context, projectID uint64, eventIDs []string) error {
	ids := make(map[string]bool, len(eventIDs))
	for _, id := range eventIDs {
		ids[id] = true
	}
	prefix := strconv.FormatUint(projectID, 10) + "/"
	return b.deleteWhere(ctx, func(name string) bool {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			return false
		}
		event, _, _ := strings.Cut(rest, "/")
		return ids[event]
	})
}

// DeleteProject deletes every file of a project.
func (b *ObjectBlobs) DeleteProject(ctx context.Context, projectID uint64) error {
	prefix := strconv.FormatUint(projectID, 10) + "/"
	return b.deleteWhere(ctx, func(name string) bool { return strings.HasPrefix(name, prefix) })
}

func (b *ObjectBlobs) deleteWhere(ctx context.Context, match func(name string) bool) error {
	os, list, err := b.objects(ctx)
	if err != nil || os == nil {
		return err
	}
	for _, info := range list {
		if info.Deleted || !match(info.Name) {
			continue
		}
		if err := os.Delete(ctx, info.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return fmt.Errorf("deletion: delete %s: %w", info.Name, err)
		}
	}
	return nil
}
