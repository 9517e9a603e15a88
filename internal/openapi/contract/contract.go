// Package contract checks real answers against Faultline's OpenAPI
// document (internal/openapi), for the contract tests. It is kept apart
// from the document's generator so that the server does not carry a JSON
// Schema validator.
package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// docURL names the document for the schema compiler.
const docURL = "https://faultline.invalid/openapi.json"

// Validator checks bodies against a document's schemas, as JSON Schema
// 2020-12 with format assertions on. It is safe for concurrent use.
type Validator struct {
	doc map[string]any

	mu       sync.Mutex
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema
}

// New reads a document (as served at openapi.Path).
func New(doc []byte) (*Validator, error) {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("openapi: the document is not JSON: %w", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("openapi: the document is not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, inst); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return &Validator{doc: m, compiler: c, schemas: map[string]*jsonschema.Schema{}}, nil
}

// Response checks body, the answer of method on the route path (as the
// route table declares it, with its placeholders) with status. A status
// the operation does not document, or a body its schema refuses, is an
// error. A response documented without content must have no body.
func (v *Validator) Response(method, path string, status int, body []byte) error {
	op, ptr, err := v.operation(method, path)
	if err != nil {
		return err
	}
	resps, _ := op["responses"].(map[string]any)
	code := strconv.Itoa(status)
	resp, ok := resps[code].(map[string]any)
	if !ok {
		return fmt.Errorf("openapi: %s %s does not document status %d", method, path, status)
	}
	rptr := ptr + "/responses/" + code
	if r, ok := resp["$ref"].(string); ok {
		name, found := strings.CutPrefix(r, "#/components/responses/")
		comps, _ := v.doc["components"].(map[string]any)
		all, _ := comps["responses"].(map[string]any)
		if resp, ok = all[name].(map[string]any); !found || !ok {
			return fmt.Errorf("openapi: %s %s %d: unresolved %s", method, path, status, r)
		}
		rptr = "/components/responses/" + escape(name)
	}
	content, _ := resp["content"].(map[string]any)
	if content == nil {
		if len(bytes.TrimSpace(body)) > 0 {
			return fmt.Errorf("openapi: %s %s %d: documented without a body, got %d bytes", method, path, status, len(body))
		}
		return nil
	}
	if _, ok := content["application/json"]; !ok {
		return nil // not JSON: nothing to check
	}
	return v.check(rptr+"/content/application~1json/schema", body, fmt.Sprintf("%s %s %d", method, path, status))
}

// Request checks a request body against the operation's request schema.
func (v *Validator) Request(method, path string, body []byte) error {
	op, ptr, err := v.operation(method, path)
	if err != nil {
		return err
	}
	if _, ok := op["requestBody"]; !ok {
		return fmt.Errorf("openapi: %s %s documents no request body", method, path)
	}
	return v.check(ptr+"/requestBody/content/application~1json/schema", body, method+" "+path+" request")
}

func (v *Validator) operation(method, path string) (map[string]any, string, error) {
	paths, _ := v.doc["paths"].(map[string]any)
	item, _ := paths[path].(map[string]any)
	op, _ := item[strings.ToLower(method)].(map[string]any)
	if op == nil {
		return nil, "", fmt.Errorf("%w: %s %s", ErrNoOperation, method, path)
	}
	return op, "/paths/" + escape(path) + "/" + strings.ToLower(method), nil
}

func (v *Validator) check(ptr string, body []byte, what string) error {
	v.mu.Lock()
	sch, ok := v.schemas[ptr]
	if !ok {
		var err error
		// The fragment is a JSON pointer, percent-encoded as a URL's.
		if sch, err = v.compiler.Compile(docURL + "#" + (&url.URL{Fragment: ptr}).EscapedFragment()); err != nil {
			v.mu.Unlock()
			return fmt.Errorf("openapi: %s: the schema does not compile: %w", what, err)
		}
		v.schemas[ptr] = sch
	}
	v.mu.Unlock()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("openapi: %s: the body is not JSON: %w", what, err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("openapi: %s: %w", what, err)
	}
	return nil
}

// ErrNoOperation is returned for a method and path the document lacks.
var ErrNoOperation = errors.New("openapi: no such operation")

// escape is a JSON pointer's escape of one token.
func escape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// CompileAll compiles every schema of the document (components, request
// bodies, responses) as JSON Schema 2020-12, which checks each against the
// 2020-12 meta-schema and resolves every $ref.
func (v *Validator) CompileAll() error {
	var ptrs []string
	comps, _ := v.doc["components"].(map[string]any)
	schemas, _ := comps["schemas"].(map[string]any)
	for name := range schemas {
		ptrs = append(ptrs, "/components/schemas/"+escape(name))
	}
	responses, _ := comps["responses"].(map[string]any)
	for name, r := range responses {
		ptrs = append(ptrs, contentSchemas("/components/responses/"+escape(name), r)...)
	}
	paths, _ := v.doc["paths"].(map[string]any)
	for p, item := range paths {
		ops, _ := item.(map[string]any)
		for m, op := range ops {
			o, _ := op.(map[string]any)
			base := "/paths/" + escape(p) + "/" + m
			if rb, ok := o["requestBody"]; ok {
				ptrs = append(ptrs, contentSchemas(base+"/requestBody", rb)...)
			}
			rs, _ := o["responses"].(map[string]any)
			for code, r := range rs {
				ptrs = append(ptrs, contentSchemas(base+"/responses/"+code, r)...)
			}
			params, _ := o["parameters"].([]any)
			for i := range params {
				ptrs = append(ptrs, base+"/parameters/"+strconv.Itoa(i)+"/schema")
			}
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, ptr := range ptrs {
		if _, err := v.compiler.Compile(docURL + "#" + (&url.URL{Fragment: ptr}).EscapedFragment()); err != nil {
			return fmt.Errorf("openapi: the schema at %s: %w", ptr, err)
		}
	}
	return nil
}

func contentSchemas(base string, r any) []string {
	m, _ := r.(map[string]any)
	content, _ := m["content"].(map[string]any)
	var out []string
	for ct := range content {
		out = append(out, base+"/content/"+escape(ct)+"/schema")
	}
	return out
}
