package tracing

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Field numbers of OTLP v1's ExportTraceServiceRequest and the messages it
// nests (opentelemetry-proto: collector/trace, trace, common, resource).
const (
	fRequestResourceSpans = 1

	fResourceSpansResource   = 1
	fResourceSpansScopeSpans = 2
	fResourceSpansSchemaURL  = 3
	fResourceAttributes      = 1

	fScopeSpansScope     = 1
	fScopeSpansSpans     = 2
	fScopeSpansSchemaURL = 3
	fScopeName           = 1
	fScopeVersion        = 2
	fScopeAttributes     = 3

	fSpanTraceID           = 1
	fSpanSpanID            = 2
	fSpanTraceState        = 3
	fSpanParentSpanID      = 4
	fSpanName              = 5
	fSpanKind              = 6
	fSpanStart             = 7
	fSpanEnd               = 8
	fSpanAttributes        = 9
	fSpanDroppedAttributes = 10
	fSpanEvents            = 11
	fSpanDroppedEvents     = 12
	fSpanLinks             = 13
	fSpanDroppedLinks      = 14
	fSpanStatus            = 15
	fSpanFlags             = 16

	fEventTime              = 1
	fEventName              = 2
	fEventAttributes        = 3
	fEventDroppedAttributes = 4

	fLinkTraceID           = 1
	fLinkSpanID            = 2
	fLinkAttributes        = 4
	fLinkDroppedAttributes = 5
	fLinkFlags             = 6

	fStatusMessage = 2
	fStatusCode    = 3

	fKeyValueKey   = 1
	fKeyValueValue = 2
	fAnyString     = 1
	fAnyBool       = 2
	fAnyInt        = 3
	fAnyDouble     = 4
	fAnyArray      = 5
	fAnyKVList     = 6
	fAnyBytes      = 7
	fArrayValues   = 1 // also KeyValueList.values

	// SpanFlags: bit 8 says whether the parent is known to be remote, bit
	// 9 that it is.
	flagHasIsRemote = 0x100
	flagIsRemote    = 0x200
)

// encodeRequest is spans as an OTLP ExportTraceServiceRequest in binary
// protobuf, grouped by resource and then instrumentation scope in the order
// first seen, as otlptracehttp groups them.
func encodeRequest(spans []sdktrace.ReadOnlySpan) []byte {
	type scopeKey struct {
		res   attribute.Distinct
		scope instrumentation.Scope
	}
	type group struct {
		res    *resource.Resource
		scopes []scopeKey
	}
	var order []attribute.Distinct
	groups := map[attribute.Distinct]*group{}
	byScope := map[scopeKey][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		if s == nil {
			continue
		}
		rk := s.Resource().Equivalent()
		g := groups[rk]
		if g == nil {
			g = &group{res: s.Resource()}
			groups[rk] = g
			order = append(order, rk)
		}
		sk := scopeKey{rk, s.InstrumentationScope()}
		if _, seen := byScope[sk]; !seen {
			g.scopes = append(g.scopes, sk)
		}
		byScope[sk] = append(byScope[sk], s)
	}
	var b []byte
	for _, rk := range order {
		g := groups[rk]
		b = appendMessage(b, fRequestResourceSpans, func(b []byte) []byte {
			if g.res != nil {
				b = appendMessage(b, fResourceSpansResource, func(b []byte) []byte {
					return appendIterator(b, fResourceAttributes, g.res.Iter())
				})
			}
			for _, sk := range g.scopes {
				b = appendMessage(b, fResourceSpansScopeSpans, func(b []byte) []byte {
					return appendScopeSpans(b, sk.scope, byScope[sk])
				})
			}
			return appendString(b, fResourceSpansSchemaURL, g.res.SchemaURL())
		})
	}
	return b
}

func appendScopeSpans(b []byte, scope instrumentation.Scope, spans []sdktrace.ReadOnlySpan) []byte {
	if scope != (instrumentation.Scope{}) {
		b = appendMessage(b, fScopeSpansScope, func(b []byte) []byte {
			b = appendString(b, fScopeName, scope.Name)
			b = appendString(b, fScopeVersion, scope.Version)
			return appendIterator(b, fScopeAttributes, scope.Attributes.Iter())
		})
	}
	for _, s := range spans {
		b = appendMessage(b, fScopeSpansSpans, func(b []byte) []byte { return appendSpan(b, s) })
	}
	return appendString(b, fScopeSpansSchemaURL, scope.SchemaURL)
}

func appendSpan(b []byte, s sdktrace.ReadOnlySpan) []byte {
	sc := s.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	b = appendBytes(b, fSpanTraceID, tid[:])
	b = appendBytes(b, fSpanSpanID, sid[:])
	b = appendString(b, fSpanTraceState, sc.TraceState().String())
	if psid := s.Parent().SpanID(); psid.IsValid() {
		b = appendBytes(b, fSpanParentSpanID, psid[:])
	}
	b = appendString(b, fSpanName, s.Name())
	b = appendVarint(b, fSpanKind, uint64(spanKind(s.SpanKind())))
	b = appendFixed64(b, fSpanStart, unixNano(s.StartTime().UnixNano()))
	b = appendFixed64(b, fSpanEnd, unixNano(s.EndTime().UnixNano()))
	b = appendKeyValues(b, fSpanAttributes, s.Attributes())
	b = appendVarint(b, fSpanDroppedAttributes, count(s.DroppedAttributes()))
	for _, e := range s.Events() {
		b = appendMessage(b, fSpanEvents, func(b []byte) []byte {
			b = appendFixed64(b, fEventTime, unixNano(e.Time.UnixNano()))
			b = appendString(b, fEventName, e.Name)
			b = appendKeyValues(b, fEventAttributes, e.Attributes)
			return appendVarint(b, fEventDroppedAttributes, count(e.DroppedAttributeCount))
		})
	}
	b = appendVarint(b, fSpanDroppedEvents, count(s.DroppedEvents()))
	for _, l := range s.Links() {
		b = appendMessage(b, fSpanLinks, func(b []byte) []byte {
			ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
			b = appendBytes(b, fLinkTraceID, ltid[:])
			b = appendBytes(b, fLinkSpanID, lsid[:])
			b = appendKeyValues(b, fLinkAttributes, l.Attributes)
			b = appendVarint(b, fLinkDroppedAttributes, count(l.DroppedAttributeCount))
			return appendFixed32(b, fLinkFlags, spanFlags(l.SpanContext.TraceFlags(), l.SpanContext))
		})
	}
	b = appendVarint(b, fSpanDroppedLinks, count(s.DroppedLinks()))
	st := s.Status()
	b = appendMessage(b, fSpanStatus, func(b []byte) []byte { // always present, as otlptracehttp sends it
		b = appendString(b, fStatusMessage, st.Description)
		return appendVarint(b, fStatusCode, uint64(statusCode(st.Code)))
	})
	return appendFixed32(b, fSpanFlags, spanFlags(sc.TraceFlags(), s.Parent()))
}

// spanFlags are the W3C trace flags plus whether the parent is remote.
func spanFlags(tf trace.TraceFlags, parent trace.SpanContext) uint32 {
	f := uint32(tf) | flagHasIsRemote
	if parent.IsRemote() {
		f |= flagIsRemote
	}
	return f
}

// spanKind is OTLP's SpanKind: the API's kinds in the same order, with 0
// for unspecified.
func spanKind(k trace.SpanKind) int {
	if k < trace.SpanKindInternal || k > trace.SpanKindConsumer {
		return 0
	}
	return int(k)
}

// statusCode is OTLP's StatusCode (UNSET 0, OK 1, ERROR 2); the API
// numbers Error 1 and Ok 2.
func statusCode(c codes.Code) int {
	switch c {
	case codes.Ok:
		return 1
	case codes.Error:
		return 2
	}
	return 0
}

func unixNano(n int64) uint64 { return uint64(max(0, n)) }

func count(n int) uint64 { return uint64(min(max(0, n), math.MaxUint32)) }

func appendIterator(b []byte, num protowire.Number, it attribute.Iterator) []byte {
	for it.Next() {
		b = appendKeyValue(b, num, it.Attribute())
	}
	return b
}

func appendKeyValues(b []byte, num protowire.Number, kvs []attribute.KeyValue) []byte {
	for _, kv := range kvs {
		b = appendKeyValue(b, num, kv)
	}
	return b
}

func appendKeyValue(b []byte, num protowire.Number, kv attribute.KeyValue) []byte {
	return appendMessage(b, num, func(b []byte) []byte {
		b = appendString(b, fKeyValueKey, string(kv.Key))
		return appendMessage(b, fKeyValueValue, func(b []byte) []byte { return appendAnyValue(b, kv.Value) })
	})
}

// appendAnyValue writes v's oneof member, which is sent even when it holds
// its zero value (false, 0, "").
func appendAnyValue(b []byte, v attribute.Value) []byte {
	switch v.Type() {
	case attribute.EMPTY:
		return b
	case attribute.BOOL:
		return protowire.AppendVarint(protowire.AppendTag(b, fAnyBool, protowire.VarintType), protowire.EncodeBool(v.AsBool()))
	case attribute.INT64:
		return protowire.AppendVarint(protowire.AppendTag(b, fAnyInt, protowire.VarintType), uint64(v.AsInt64()))
	case attribute.FLOAT64:
		return protowire.AppendFixed64(protowire.AppendTag(b, fAnyDouble, protowire.Fixed64Type), math.Float64bits(v.AsFloat64()))
	case attribute.STRING:
		return protowire.AppendString(protowire.AppendTag(b, fAnyString, protowire.BytesType), v.AsString())
	case attribute.BYTESLICE:
		return protowire.AppendBytes(protowire.AppendTag(b, fAnyBytes, protowire.BytesType), v.AsByteSlice())
	case attribute.MAP:
		return appendMessage(b, fAnyKVList, func(b []byte) []byte { return appendKeyValues(b, fArrayValues, v.AsMap()) })
	case attribute.BOOLSLICE, attribute.INT64SLICE, attribute.FLOAT64SLICE, attribute.STRINGSLICE, attribute.SLICE:
		return appendMessage(b, fAnyArray, func(b []byte) []byte {
			for _, e := range elements(v) {
				b = appendMessage(b, fArrayValues, func(b []byte) []byte { return appendAnyValue(b, e) })
			}
			return b
		})
	}
	return protowire.AppendString(protowire.AppendTag(b, fAnyString, protowire.BytesType), "INVALID")
}

// elements are the values of a slice-typed attribute.
func elements(v attribute.Value) []attribute.Value {
	var out []attribute.Value
	switch v.Type() {
	case attribute.BOOLSLICE:
		for _, e := range v.AsBoolSlice() {
			out = append(out, attribute.BoolValue(e))
		}
	case attribute.INT64SLICE:
		for _, e := range v.AsInt64Slice() {
			out = append(out, attribute.Int64Value(e))
		}
	case attribute.FLOAT64SLICE:
		for _, e := range v.AsFloat64Slice() {
			out = append(out, attribute.Float64Value(e))
		}
	case attribute.STRINGSLICE:
		for _, e := range v.AsStringSlice() {
			out = append(out, attribute.StringValue(e))
		}
	case attribute.SLICE:
		out = v.AsSlice()
	}
	return out
}

// appendMessage writes an embedded message: body writes its fields.
func appendMessage(b []byte, num protowire.Number, body func([]byte) []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), body(nil))
}

// The scalar writers below leave out a zero value, as proto3 does.

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

func appendFixed64(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendFixed64(protowire.AppendTag(b, num, protowire.Fixed64Type), v)
}

func appendFixed32(b []byte, num protowire.Number, v uint32) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendFixed32(protowire.AppendTag(b, num, protowire.Fixed32Type), v)
}
