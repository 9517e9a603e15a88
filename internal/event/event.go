// Package event is Sentry's event payload as Faultline reads and stores it:
// typed structures that accept every shape the SDKs send (a bare list or
// {"values": [...]}, a timestamp as a string or a number, tags as an object
// or as pairs), and the derived fields Sentry shows: title, culprit and
// metadata.
//
// Decoding uses goccy/go-json: decoding is most of a worker's CPU per
// event, and it is three times faster than encoding/json here while staying
// pure Go (see ARCHITECTURE.md).
package event

import (
	"encoding/json"
	"unsafe"

	gojson "github.com/goccy/go-json"
)

// Event is a Sentry event. Fields Faultline does not interpret but shows
// (contexts, extra, request bodies...) stay raw JSON.
type Event struct {
	EventID     string           `json:"event_id"`
	Level       string           `json:"level,omitempty"`
	Platform    string           `json:"platform,omitempty"`
	Logger      string           `json:"logger,omitempty"`
	Type        string           `json:"type,omitempty"`
	Timestamp   Timestamp        `json:"timestamp"`
	Received    Timestamp        `json:"received"`
	Transaction string           `json:"transaction,omitempty"`
	ServerName  string           `json:"server_name,omitempty"`
	Release     FlexString       `json:"release,omitempty"`
	Dist        FlexString       `json:"dist,omitempty"`
	Environment string           `json:"environment,omitempty"`
	Culprit     string           `json:"culprit,omitempty"`
	Message     *Message         `json:"message,omitempty"`
	LogEntry    *Message         `json:"logentry,omitempty"`
	Exception   *ExceptionList   `json:"exception,omitempty"`
	Stacktrace  *Stacktrace      `json:"stacktrace,omitempty"`
	Threads     *ThreadList      `json:"threads,omitempty"`
	Breadcrumbs *BreadcrumbList  `json:"breadcrumbs,omitempty"`
	Tags        Tags             `json:"tags,omitempty"`
	User        *User            `json:"user,omitempty"`
	Request     *Request         `json:"request,omitempty"`
	Contexts    map[string]Raw   `json:"contexts,omitempty"`
	Extra       map[string]Raw   `json:"extra,omitempty"`
	SDK         *SDK             `json:"sdk,omitempty"`
	Fingerprint []FlexString     `json:"fingerprint,omitempty"`
	Modules     map[string]Raw   `json:"modules,omitempty"`
	DebugMeta   Raw              `json:"debug_meta,omitempty"`
	Errors      []ProcessingNote `json:"errors,omitempty"`
	// Security reports' interfaces (Relay's csp, hpkp, expectct and
	// expectstaple), as ingest built them from the browser's report.
	CSP          Raw `json:"csp,omitempty"`
	HPKP         Raw `json:"hpkp,omitempty"`
	ExpectCT     Raw `json:"expectct,omitempty"`
	ExpectStaple Raw `json:"expectstaple,omitempty"`
	// MainExceptionID is Sentry's main_exception_id: the exception (by
	// mechanism.exception_id) the event is about when it is not the last
	// of the list, as grouping decides for exception groups.
	MainExceptionID *int `json:"main_exception_id,omitempty"`
	// Grouping is Faultline's record of how the event was grouped.
	Grouping *GroupingInfo `json:"_grouping,omitempty"`
	// Metadata is the derived type/value/filename/function (Sentry's
	// event.data["metadata"]).
	Metadata *Metadata `json:"_metadata,omitempty"`
}

// Raw is JSON kept as it came.
type Raw = json.RawMessage

// Message is a log message: "message" as a plain string or an object, and
// "logentry".
type Message struct {
	Message   string `json:"message,omitempty"`
	Formatted string `json:"formatted,omitempty"`
	Params    Raw    `json:"params,omitempty"`
}

// UnmarshalJSON accepts a string or {message, formatted, params}.
func (m *Message) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return gojson.Unmarshal(b, &m.Formatted)
	}
	type plain Message
	return gojson.Unmarshal(b, (*plain)(m))
}

// Text returns the message as shown: formatted, else the template.
func (m *Message) Text() string {
	if m == nil {
		return ""
	}
	if m.Formatted != "" {
		return m.Formatted
	}
	return m.Message
}

// ExceptionList is the exception chain, innermost... as sent: Sentry orders
// it oldest (the cause) first and the exception that was raised last.
type ExceptionList struct {
	Values []Exception `json:"values"`
}

// UnmarshalJSON accepts a bare list, {"values": [...]}, or one object.
func (l *ExceptionList) UnmarshalJSON(b []byte) error {
	return unmarshalValues(b, &l.Values)
}

// Exception is one exception of a chain.
type Exception struct {
	Type       string      `json:"type,omitempty"`
	Value      FlexString  `json:"value,omitempty"`
	Module     string      `json:"module,omitempty"`
	ThreadID   Raw         `json:"thread_id,omitempty"`
	Mechanism  *Mechanism  `json:"mechanism,omitempty"`
	Stacktrace *Stacktrace `json:"stacktrace,omitempty"`
	RawStack   *Stacktrace `json:"raw_stacktrace,omitempty"`
}

// Mechanism tells how an exception was caught.
type Mechanism struct {
	Type             string `json:"type,omitempty"`
	Handled          *bool  `json:"handled,omitempty"`
	Synthetic        bool   `json:"synthetic,omitempty"`
	Description      string `json:"description,omitempty"`
	HelpLink         string `json:"help_link,omitempty"`
	Source           string `json:"source,omitempty"`
	ExceptionID      *int   `json:"exception_id,omitempty"`
	ParentID         *int   `json:"parent_id,omitempty"`
	IsExceptionGroup bool   `json:"is_exception_group,omitempty"`
	Data             Raw    `json:"data,omitempty"`
	Meta             Raw    `json:"meta,omitempty"`
}

// Stacktrace is a list of frames, oldest call first, crashing frame last.
type Stacktrace struct {
	Frames    Frames `json:"frames"`
	Registers Raw    `json:"registers,omitempty"`
}

// Frame is one stack frame.
type Frame struct {
	Filename        string   `json:"filename,omitempty"`
	AbsPath         string   `json:"abs_path,omitempty"`
	Function        string   `json:"function,omitempty"`
	RawFunction     string   `json:"raw_function,omitempty"`
	Module          string   `json:"module,omitempty"`
	Package         string   `json:"package,omitempty"`
	Platform        string   `json:"platform,omitempty"`
	Symbol          string   `json:"symbol,omitempty"`
	InstructionAddr string   `json:"instruction_addr,omitempty"`
	SymbolAddr      string   `json:"symbol_addr,omitempty"`
	Lineno          *FlexInt `json:"lineno,omitempty"`
	Colno           *FlexInt `json:"colno,omitempty"`
	InApp           *bool    `json:"in_app,omitempty"`
	ContextLine     string   `json:"context_line,omitempty"`
	PreContext      []string `json:"pre_context,omitempty"`
	PostContext     []string `json:"post_context,omitempty"`
	Vars            Raw      `json:"vars,omitempty"`
	// Data is what processing recorded about the frame (source maps:
	// sourcemap, resolved_with, symbolicated).
	Data Raw `json:"data,omitempty"`
}

// IsInApp reports whether the frame is the application's own code.
func (f *Frame) IsInApp() bool { return f.InApp != nil && *f.InApp }

// ThreadList is the event's threads.
type ThreadList struct {
	Values []Thread `json:"values"`
}

// UnmarshalJSON accepts a bare list or {"values": [...]}.
func (l *ThreadList) UnmarshalJSON(b []byte) error { return unmarshalValues(b, &l.Values) }

// Thread is one thread, possibly with its stack.
type Thread struct {
	ID         Raw         `json:"id,omitempty"`
	Name       string      `json:"name,omitempty"`
	Crashed    bool        `json:"crashed,omitempty"`
	Current    bool        `json:"current,omitempty"`
	Main       bool        `json:"main,omitempty"`
	Stacktrace *Stacktrace `json:"stacktrace,omitempty"`
	RawStack   *Stacktrace `json:"raw_stacktrace,omitempty"`
}

// BreadcrumbList is the event's breadcrumbs.
type BreadcrumbList struct {
	Values []Breadcrumb `json:"values"`
}

// UnmarshalJSON accepts a bare list or {"values": [...]}.
func (l *BreadcrumbList) UnmarshalJSON(b []byte) error { return unmarshalValues(b, &l.Values) }

// Breadcrumb is one trail entry before the event.
type Breadcrumb struct {
	Timestamp Timestamp `json:"timestamp"`
	Type      string    `json:"type,omitempty"`
	Category  string    `json:"category,omitempty"`
	Level     string    `json:"level,omitempty"`
	Message   string    `json:"message,omitempty"`
	Data      Raw       `json:"data,omitempty"`
	EventID   string    `json:"event_id,omitempty"`
}

// User identifies who was affected.
type User struct {
	ID        FlexString `json:"id,omitempty"`
	Email     string     `json:"email,omitempty"`
	IPAddress string     `json:"ip_address,omitempty"`
	Username  FlexString `json:"username,omitempty"`
	Name      string     `json:"name,omitempty"`
	Segment   string     `json:"segment,omitempty"`
	Geo       Raw        `json:"geo,omitempty"`
	Data      Raw        `json:"data,omitempty"`
}

// Key returns what identifies the user for counting: Sentry's sentry:user
// tag, id first, then email, username, ip.
func (u *User) Key() string {
	if u == nil {
		return ""
	}
	switch {
	case u.ID != "":
		return "id:" + string(u.ID)
	case u.Email != "":
		return "email:" + u.Email
	case u.Username != "":
		return "username:" + string(u.Username)
	case u.IPAddress != "":
		return "ip:" + u.IPAddress
	}
	return ""
}

// Request is the HTTP request being handled.
type Request struct {
	URL         string `json:"url,omitempty"`
	Method      string `json:"method,omitempty"`
	Data        Raw    `json:"data,omitempty"`
	QueryString Raw    `json:"query_string,omitempty"`
	Cookies     Raw    `json:"cookies,omitempty"`
	Headers     Pairs  `json:"headers,omitempty"`
	Env         Raw    `json:"env,omitempty"`
	Fragment    string `json:"fragment,omitempty"`
	InferredCT  string `json:"inferred_content_type,omitempty"`
}

// SDK names the client that sent the event.
type SDK struct {
	Name         string   `json:"name,omitempty"`
	Version      string   `json:"version,omitempty"`
	Integrations []string `json:"integrations,omitempty"`
	Packages     Raw      `json:"packages,omitempty"`
}

// ProcessingNote records a problem found while processing, as Sentry's
// event.errors does.
type ProcessingNote struct {
	Type  string `json:"type"`
	Name  string `json:"name,omitempty"`
	Value Raw    `json:"value,omitempty"`
}

// GroupingInfo records how the event was grouped, so that people can see
// why it landed in its issue.
type GroupingInfo struct {
	Config string `json:"config"`
	// Strategy is what produced the hash: custom, stacktrace, exception,
	// message or fallback.
	Strategy string `json:"strategy"`
	// Variant is Sentry's variant whose hash was used: app, system,
	// default, custom-fingerprint or fallback.
	Variant string   `json:"variant"`
	Hash    string   `json:"hash"`
	Values  []string `json:"values,omitempty"` // what was hashed, for display
}

// Metadata is what lists show for an issue.
type Metadata struct {
	Type     string `json:"type,omitempty"`
	Value    string `json:"value,omitempty"`
	Filename string `json:"filename,omitempty"`
	Function string `json:"function,omitempty"`
	Title    string `json:"title,omitempty"`
}

// Decode parses an event. A field of an unexpected shape does not lose the
// event: it is dropped and noted in Errors, as Relay does. Numbers beyond
// float64's range become null first (NullNonFinite).
func Decode(b []byte) (*Event, error) {
	b = NullNonFinite(b)
	var e Event
	if err := gojson.Unmarshal(b, &e); err == nil {
		return &e, nil
	}
	// Field by field, so one bad field costs only itself.
	var fields map[string]Raw
	if err := gojson.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	e = Event{}
	for k, v := range fields {
		one, _ := gojson.Marshal(map[string]Raw{k: v})
		var part Event
		if err := gojson.Unmarshal(one, &part); err != nil {
			e.Errors = append(e.Errors, ProcessingNote{Type: "invalid_data", Name: k})
			continue
		}
		mergeField(&e, &part, k)
	}
	return &e, nil
}

// Encode serializes an event.
func Encode(e *Event) ([]byte, error) { return gojson.Marshal(e) }

// EncodeString is Encode for a string column (the stored body): the
// encoder's result is a fresh copy that nothing else holds, so it becomes
// the string as it is, without the second copy of string(b).
func EncodeString(e *Event) (string, error) {
	b, err := Encode(e)
	if err != nil || len(b) == 0 {
		return "", err
	}
	return unsafe.String(unsafe.SliceData(b), len(b)), nil
}

// EncodeMetadata serializes issue metadata.
func EncodeMetadata(m *Metadata) ([]byte, error) { return gojson.Marshal(m) }
