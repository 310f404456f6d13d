// Package jsonscan walks raw JSON bytes without decoding them: the bounds of
// a value, of a string, and the members of an object. The auth0 client's
// fast event decoder and the publisher's EVENT_FIELDS filter share it; both
// are fuzzed against encoding/json.
package jsonscan

import "bytes"

// Members calls fn for each member of the JSON object obj (surrounding white
// space allowed; values are bounded, not validated), with the raw key (without quotes, escapes left as they are)
// and the bounds of its value. It stops and returns false when fn does, or
// when obj is not an object.
func Members(obj []byte, fn func(key []byte, vs, ve int) bool) bool {
	i := SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return false
	}
	i = SkipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return true
	}
	for i < len(obj) {
		if obj[i] != '"' {
			return false
		}
		kEnd := StringEnd(obj, i)
		if kEnd < 0 {
			return false
		}
		key := obj[i+1 : kEnd-1]
		i = SkipSpace(obj, kEnd)
		if i >= len(obj) || obj[i] != ':' {
			return false
		}
		vs := SkipSpace(obj, i+1)
		ve := ValueEnd(obj, vs)
		if ve < 0 || !fn(key, vs, ve) {
			return false
		}
		i = SkipSpace(obj, ve)
		if i >= len(obj) {
			return false
		}
		switch obj[i] {
		case ',':
			i = SkipSpace(obj, i+1)
		case '}':
			return true
		default:
			return false
		}
	}
	return false
}

// SkipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// StringEnd returns the index after the closing quote of the string at i, or -1.
// A quote ends the string unless an odd number of backslashes precede it.
func StringEnd(b []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		n := 0
		for m := j - 1; m > i && b[m] == '\\'; m-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		j++
	}
}

// ValueEnd returns the index after the (valid) JSON value starting at i, or -1.
func ValueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return StringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end := StringEnd(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
