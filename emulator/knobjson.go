package emulator

// The JSON form of knob structs (Knobs, DeliveryKnobs): an object keyed by
// the fields' json names, durations written as Go strings ("2s") and read
// as Go strings or nanoseconds. One reflective codec serves every knob
// struct, so adding a knob is adding a field.

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
)

var durationType = reflect.TypeFor[time.Duration]()

// knobsView renders a knob struct with durations as Go strings; a field
// tagged omitempty is left out while zero.
func knobsView(knobs any) map[string]any {
	out := map[string]any{}
	v := reflect.ValueOf(knobs)
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name, opts, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		f := v.Field(i)
		switch {
		case f.IsZero() && opts == "omitempty":
		case f.Type() == durationType:
			out[name] = time.Duration(f.Int()).String()
		default:
			out[name] = f.Interface()
		}
	}
	return out
}

// applyKnobPatch sets the fields of the knob struct *dst named in patch, in
// name order. label turns a name into how errors call it (`knob "x"`,
// "delivery.x"): an unknown name is refused as "unknown " + its label.
func applyKnobPatch(dst any, patch map[string]json.RawMessage, label func(name string) string) error {
	v := reflect.ValueOf(dst).Elem()
	t := v.Type()
	index := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		index[name] = i
	}
	for _, name := range slices.Sorted(maps.Keys(patch)) {
		i, ok := index[name]
		if !ok {
			return fmt.Errorf("unknown %s", label(name))
		}
		if err := setKnob(v.Field(i), patch[name]); err != nil {
			return fmt.Errorf("%s: %v", label(name), err)
		}
	}
	return nil
}

// setKnob decodes raw into one field; a duration may be a Go string or
// nanoseconds.
func setKnob(f reflect.Value, raw json.RawMessage) error {
	if f.Type() == durationType {
		d, err := parseDurationJSON(raw)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
		return nil
	}
	p := reflect.New(f.Type())
	if err := json.Unmarshal(raw, p.Interface()); err != nil {
		return err
	}
	f.Set(p.Elem())
	return nil
}

// fillZeroKnobs sets the zero fields of the knob struct *dst to those of
// src (a value of the same type).
func fillZeroKnobs(dst, src any) {
	v, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src)
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).IsZero() {
			v.Field(i).Set(s.Field(i))
		}
	}
}

func parseDurationJSON(raw json.RawMessage) (time.Duration, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("want a duration like \"2s\" or nanoseconds: %v", err)
		}
		return d, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("want a duration like \"2s\" or nanoseconds")
	}
	return time.Duration(n), nil
}
