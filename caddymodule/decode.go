package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/tidwall/gjson"

	"github.com/caddy-payments/caddy-payments/providers"
)

// decodeStrict decodes a canonical request body into v (a pointer to a
// struct) with encoding/json, strictly: malformed JSON, a body that is not
// one object, unknown fields (reported with their full path) and wrong
// types are canonical errors naming the field. Integer fields are decoded
// from the JSON literal with integer parsing, never through a float: 19.99
// or "1999" in an integer field is a type error.
//
// A valid request is decoded once: json.Unmarshal, then a walk of the
// body's member names (gjson, no decoding) that finds each of them exactly
// among the struct's json names. Anything else (an error, a name that is
// unknown, escaped or differs in case, which encoding/json would match
// case-insensitively) takes the full two-pass path, decodeStrictFull, so
// that bad inputs get exactly its errors.
func decodeStrict(body []byte, v any) *providers.Error {
	if i := firstNonSpace(body); i < len(body) && body[i] == '{' {
		if json.Unmarshal(body, v) == nil && knownNames(gjson.ParseBytes(body), reflect.TypeOf(v)) {
			return nil
		}
		// The full path decodes again into a zero value, as if the fast
		// path had not run.
		rv := reflect.ValueOf(v).Elem()
		rv.SetZero()
	}
	return decodeStrictFull(body, v)
}

// firstNonSpace is the index of the first byte of body that is not JSON
// whitespace (len(body) when there is none).
func firstNonSpace(body []byte) int {
	for i, c := range body {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return i
		}
	}
	return len(body)
}

// structNames caches, per struct type, its json member names and their
// types (as findUnknown reads them).
var structNames sync.Map // reflect.Type -> map[string]reflect.Type

func namesOf(t reflect.Type) map[string]reflect.Type {
	if m, ok := structNames.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			// encoding/json promotes an embedded struct's fields, which
			// findUnknown does not: no fast path for such a type.
			fields = nil
			break
		}
		if name := jsonName(f); name != "" {
			fields[name] = f.Type
		}
	}
	m, _ := structNames.LoadOrStore(t, fields)
	return m.(map[string]reflect.Type)
}

// knownNames reports whether every member name that the typed decode
// into t matches to a struct field — in this object, and under its struct,
// slice and map fields at any depth — is spelt exactly as one of the json
// names, with no escape: what findUnknown and DisallowUnknownFields
// require, checked without decoding. False means "not sure": the full path
// decides.
func knownNames(v gjson.Result, t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	ok := true
	switch t.Kind() {
	case reflect.Struct:
		if !v.IsObject() {
			return true
		}
		fields := namesOf(t)
		v.ForEach(func(k, val gjson.Result) bool {
			raw := k.Raw
			if len(raw) < 2 || strings.IndexByte(raw, '\\') >= 0 {
				ok = false
				return false
			}
			ft, found := fields[raw[1:len(raw)-1]]
			ok = found && knownNames(val, ft)
			return ok
		})
	case reflect.Slice, reflect.Array, reflect.Map:
		if !v.IsArray() && !v.IsObject() {
			return true
		}
		v.ForEach(func(_, e gjson.Result) bool {
			ok = knownNames(e, t.Elem())
			return ok
		})
	}
	return ok
}

// decodeStrictFull is decodeStrict's full path: a generic decode to find
// unknown fields with their full path, then the typed, strict decode.
func decodeStrictFull(body []byte, v any) *providers.Error {
	if len(bytes.TrimSpace(body)) == 0 {
		return &providers.Error{Type: providers.TypeInvalidRequest, Code: "invalid_json",
			Message: "the request body must be a JSON object", RequestSent: providers.SentNo}
	}
	// First pass: generic, to find unknown fields with their full path.
	gen := json.NewDecoder(bytes.NewReader(body))
	gen.UseNumber()
	var raw any
	if err := gen.Decode(&raw); err != nil {
		return malformed(err)
	}
	if _, err := gen.Token(); err != io.EOF {
		return &providers.Error{Type: providers.TypeInvalidRequest, Code: "invalid_json",
			Message: "the request body must hold exactly one JSON object", RequestSent: providers.SentNo}
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return &providers.Error{Type: providers.TypeInvalidRequest, Code: "invalid_json",
			Message: "the request body must be a JSON object", RequestSent: providers.SentNo}
	}
	if e := findUnknown(obj, reflect.TypeOf(v).Elem(), ""); e != nil {
		return e
	}
	// Second pass: typed.
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return typeError(te)
		}
		return malformed(err)
	}
	return nil
}

func malformed(err error) *providers.Error {
	msg := "the request body is not valid JSON"
	var se *json.SyntaxError
	if errors.As(err, &se) {
		msg = fmt.Sprintf("the request body is not valid JSON (at byte %d: %s)", se.Offset, se.Error())
	} else if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		msg = "the request body is not valid JSON (it ends too early)"
	}
	return &providers.Error{Type: providers.TypeInvalidRequest, Code: "invalid_json", Message: msg, RequestSent: providers.SentNo}
}

// typeError names the field and the expected type.
func typeError(te *json.UnmarshalTypeError) *providers.Error {
	field := te.Field
	want := "of another type"
	switch te.Type.Kind() {
	case reflect.String:
		want = "a string"
	case reflect.Int, reflect.Int64, reflect.Int32:
		want = "an integer"
		if field == "amount" || strings.HasSuffix(field, ".amount") {
			want = "an integer number of minor units (e.g. 1999 for 19.99 EUR)"
		}
	case reflect.Bool:
		want = "true or false"
	case reflect.Struct, reflect.Pointer:
		want = "an object"
	case reflect.Map:
		want = "an object of strings"
	case reflect.Slice:
		want = "an array"
	}
	if field == "" {
		field = "body"
	}
	if field == "metadata" {
		return providers.Invalid(field, "metadata values must be strings (got %s)", te.Value)
	}
	return providers.Invalid(field, "%s must be %s (got %s)", field, want, te.Value)
}

// findUnknown walks a generic JSON object alongside a struct type and
// reports the first field (in sorted order, so the answer is stable) that
// the struct does not have.
func findUnknown(obj map[string]any, t reflect.Type, prefix string) *providers.Error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name := jsonName(f); name != "" {
			fields[name] = f.Type
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		ft, ok := fields[k]
		if !ok {
			return &providers.Error{Type: providers.TypeInvalidRequest, Code: "unknown_field", Field: path,
				Message: path + " is not a known field", RequestSent: providers.SentNo}
		}
		if sub, ok := obj[k].(map[string]any); ok {
			if e := findUnknown(sub, ft, path); e != nil {
				return e
			}
		}
	}
	return nil
}

// jsonName is the member name encoding/json uses for struct field f, or ""
// for a field it skips (unexported, or tagged "-").
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	if name == "" {
		name = f.Name
	}
	return name
}
