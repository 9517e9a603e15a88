package envelope

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenSummary is what the golden files record about a parsed envelope:
// every field Parse extracts, plus what InspectEvent / ValidateJSON say about
// each payload, so any behaviour change shows up as a diff.
type goldenSummary struct {
	Header    Header        `json:"header"`
	RawHeader string        `json:"raw_header"`
	Items     []goldenItem  `json:"items"`
	Auth      *goldenDSN    `json:"dsn_auth,omitempty"`
	Encoded   goldenEncoded `json:"re_encoded"`
}

type goldenItem struct {
	Type           string     `json:"type"`
	Length         int        `json:"length"`
	ContentType    string     `json:"content_type,omitempty"`
	Filename       string     `json:"filename,omitempty"`
	AttachmentType string     `json:"attachment_type,omitempty"`
	RawHeader      string     `json:"raw_header"`
	PayloadLen     int        `json:"payload_len"`
	PayloadSHA256  string     `json:"payload_sha256"`
	Event          *EventInfo `json:"event,omitempty"`
	JSONError      string     `json:"json_error,omitempty"`
}

type goldenDSN struct {
	Auth      Auth   `json:"auth"`
	ProjectID string `json:"project_id"`
	Error     string `json:"error,omitempty"`
}

type goldenEncoded struct {
	Len      int  `json:"len"`
	Reparsed bool `json:"reparsed_equal"`
}

func summarize(t *testing.T, data []byte) goldenSummary {
	env, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	s := goldenSummary{Header: env.Header, RawHeader: string(env.RawHeader), Items: []goldenItem{}}
	if env.Header.DSN != "" {
		a, p, err := AuthFromDSN(env.Header.DSN)
		s.Auth = &goldenDSN{Auth: a, ProjectID: p}
		if err != nil {
			s.Auth.Error = err.Error()
		}
	}
	for _, it := range env.Items {
		sum := sha256.Sum256(it.Payload)
		gi := goldenItem{
			Type: it.Type, Length: it.Length, ContentType: it.ContentType, Filename: it.Filename,
			AttachmentType: it.AttachmentType, RawHeader: string(it.RawHeader),
			PayloadLen: len(it.Payload), PayloadSHA256: hex.EncodeToString(sum[:]),
		}
		switch it.Type {
		case "event", "transaction":
			info, err := InspectEvent(it.Payload)
			if err != nil {
				gi.JSONError = err.Error()
			} else {
				gi.Event = &info
			}
		case "session", "sessions", "client_report", "user_report", "check_in":
			if err := ValidateJSON(it.Payload, MaxJSONDepth); err != nil {
				gi.JSONError = err.Error()
			}
		}
		s.Items = append(s.Items, gi)
	}
	out := Encode(env.RawHeader, env.Items...)
	s.Encoded.Len = len(out)
	if env2, err := Parse(out); err == nil && len(env2.Items) == len(env.Items) {
		s.Encoded.Reparsed = true
		for i := range env.Items {
			if !bytes.Equal(env.Items[i].Payload, env2.Items[i].Payload) || env.Items[i].Type != env2.Items[i].Type {
				s.Encoded.Reparsed = false
			}
		}
	}
	return s
}

// TestGolden parses realistic envelopes (as sentry-go, @sentry/node and
// sentry-python send them) and compares a JSON summary with the checked-in
// .golden file. Run with -update to accept intended changes.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.envelope")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.envelope files")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(summarize(t, data), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(file, ".envelope") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("summary of %s differs from %s (run with -update if intended):\n--- got\n%s\n--- want\n%s", file, golden, got, want)
			}
		})
	}
}
