package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// decodeJSONEachRow appends the rows of a JSONEachRow result to dest, a
// pointer to a slice of structs whose fields carry `ch:"column"` tags (the
// same tags clickhouse-go's Select uses, so one result type serves both
// transports). ClickHouse writes 64-bit integers as strings and DateTime as
// "YYYY-MM-DD hh:mm:ss"; both are handled here.
func decodeJSONEachRow(data []byte, dest any) error {
	sv := reflect.ValueOf(dest)
	if sv.Kind() != reflect.Pointer || sv.Elem().Kind() != reflect.Slice {
		return fmt.Errorf("store: dest must be a pointer to a slice, got %T", dest)
	}
	slice := sv.Elem()
	et := slice.Type().Elem()
	fields := fieldsOf(et)
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var line []byte
		if i < 0 {
			line, data = data, nil
		} else {
			line, data = data[:i], data[i+1:]
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(line, &raw); err != nil {
			return fmt.Errorf("store: decode row: %w", err)
		}
		row := reflect.New(et).Elem()
		for col, v := range raw {
			idx, ok := fields[col]
			if !ok {
				continue
			}
			if err := setField(row.Field(idx), v); err != nil {
				return fmt.Errorf("store: column %s: %w", col, err)
			}
		}
		slice = reflect.Append(slice, row)
	}
	sv.Elem().Set(slice)
	return nil
}

var fieldCache sync.Map // reflect.Type -> map[string]int; derived data, safe to share

func fieldsOf(t reflect.Type) map[string]int {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]int)
	}
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("ch"); tag != "" {
			m[tag] = i
		}
	}
	fieldCache.Store(t, m)
	return m
}

func setField(f reflect.Value, v json.RawMessage) error {
	if string(v) == "null" {
		return nil
	}
	switch f.Interface().(type) {
	case time.Time:
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return err
		}
		t, err := time.ParseInLocation(dateTimeLayout, s, time.UTC)
		if err != nil {
			return err
		}
		f.Set(reflect.ValueOf(t))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return err
		}
		f.SetString(s)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(unquote(v), 10, 64)
		if err != nil {
			return err
		}
		f.SetUint(n)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(unquote(v), 10, 64)
		if err != nil {
			return err
		}
		f.SetInt(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(unquote(v), 64)
		if err != nil {
			return err
		}
		f.SetFloat(n)
	default:
		return json.Unmarshal(v, f.Addr().Interface())
	}
	return nil
}

func unquote(v json.RawMessage) string {
	return strings.Trim(string(v), `"`)
}
