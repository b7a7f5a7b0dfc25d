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

	"github.com/caddy-payments/caddy-payments/providers"
)

// decodeStrict decodes a canonical request body into v (a pointer to a
// struct) with encoding/json, strictly: malformed JSON, a body that is not
// one object, unknown fields (reported with their full path) and wrong
// types are canonical errors naming the field. Integer fields are decoded
// from the JSON literal with integer parsing, never through a float: 19.99
// or "1999" in an integer field is a type error.
func decodeStrict(body []byte, v any) *providers.Error {
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
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
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
