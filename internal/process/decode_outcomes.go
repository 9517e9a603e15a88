package process

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/faultline/faultline/internal/outcome"
	"github.com/faultline/faultline/internal/store"
)

// decodeOutcomeSums reads the outcomes ingest decided (rate limited,
// invalid) and queued in sums.
func decodeOutcomeSums(body []byte) (decoded, error) {
	var d decoded
	var sums []outcome.Sum
	if err := json.Unmarshal(body, &sums); err != nil {
		return d, fmt.Errorf("outcome sums: %w", err)
	}
	for _, s := range sums {
		d.outcomes = append(d.outcomes, store.Outcome{OrgID: s.OrgID, ProjectID: s.ProjectID, KeyID: s.KeyID,
			Timestamp: time.Unix(s.Hour, 0).UTC(), Kind: s.Kind, Reason: s.Reason, Category: s.Category, Quantity: s.Quantity})
	}
	return d, nil
}
