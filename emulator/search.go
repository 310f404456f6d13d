package emulator

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// searchParams are the parsed GET /users parameters.
type searchParams struct {
	q             node
	sortField     string
	sortDesc      bool
	page, perPage int
	includeTotals bool
	sel           *fieldSelection
}

func badQuery(msg string) *httpErr {
	return &httpErr{http.StatusBadRequest, "invalid_query_string", msg}
}

func parseIntParam(q url.Values, name string, def, min, max int) (int, *httpErr) {
	v, ok := q[name]
	if !ok || v[0] == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil {
		return 0, badQuery("Query validation error: 'Expected type integer but found type string' on property " + name + ".")
	}
	if n < min {
		return 0, badQuery("Query validation error: 'Too small: must be greater than or equal to " + strconv.Itoa(min) + "' on property " + name + ".")
	}
	if max > 0 && n > max {
		return 0, badQuery("Query validation error: 'Too big: must be less than or equal to " + strconv.Itoa(max) + "' on property " + name + ".")
	}
	return n, nil
}

func parseSearchParams(q url.Values) (*searchParams, *httpErr) {
	p := &searchParams{}
	var herr *httpErr
	if p.page, herr = parseIntParam(q, "page", 0, 0, 0); herr != nil {
		return nil, herr
	}
	if p.perPage, herr = parseIntParam(q, "per_page", 50, 0, 100); herr != nil {
		return nil, herr
	}
	switch v := q.Get("include_totals"); v {
	case "", "false":
	case "true":
		p.includeTotals = true
	default:
		return nil, badQuery("Query validation error: 'Expected type boolean but found type string' on property include_totals.")
	}
	if v := q.Get("search_engine"); v != "" && v != "v1" && v != "v2" && v != "v3" {
		return nil, badQuery("Query validation error: 'Invalid value " + v + " for property search_engine, allowed values: v1, v2, v3'.")
	}
	if s := q.Get("sort"); s != "" {
		field, dir, ok := strings.Cut(s, ":")
		if !ok || field == "" || (dir != "1" && dir != "-1") {
			return nil, badQuery("Query validation error: 'String does not match pattern ^(([a-zA-Z0-9_\\.]+))\\:(1|-1)$: " + s + "' on property sort.")
		}
		p.sortField, p.sortDesc = field, dir == "-1"
	}
	if sel, herr := parseFieldSelection(q); herr != nil {
		return nil, herr
	} else {
		p.sel = sel
	}
	// The cap applies to any listing: page × per_page beyond the first 1000
	// (checked without overflow for absurd page numbers).
	if p.perPage > 0 && (p.page > 1000 || (p.page+1)*p.perPage > 1000) {
		return nil, &httpErr{http.StatusBadRequest, "invalid_paging", msgInvalidPage}
	}
	if qs := q.Get("q"); strings.TrimSpace(qs) != "" {
		n, err := parseQuery(qs)
		if err != nil {
			return nil, badQuery(err.Error())
		}
		p.q = n
	}
	return p, nil
}

func (e *Emulator) handleListUsers(w http.ResponseWriter, r *http.Request) {
	p, herr := parseSearchParams(r.URL.Query())
	if herr != nil {
		herr.write(w)
		return
	}
	if herr, ok := e.searchRunTime(r); !ok {
		return
	} else if herr != nil {
		herr.write(w)
		return
	}
	items, total := e.search(p, e.now())
	if p.includeTotals {
		var b []byte
		b = append(b, `{"start":`...)
		b = strconv.AppendInt(b, int64(p.page*p.perPage), 10)
		b = append(b, `,"limit":`...)
		b = strconv.AppendInt(b, int64(p.perPage), 10)
		b = append(b, `,"length":`...)
		b = strconv.AppendInt(b, int64(len(items)), 10)
		b = append(b, `,"users":`...)
		b = append(b, joinArray(items)...)
		b = append(b, `,"total":`...)
		b = strconv.AppendInt(b, int64(total), 10)
		b = append(b, '}')
		writeRawJSON(w, http.StatusOK, b)
		return
	}
	writeRawJSON(w, http.StatusOK, joinArray(items))
}

type hit struct {
	u *user
	v *version
}

// search runs p against the index as it is at now: the page's users (JSON)
// and the total number of matches.
func (e *Emulator) search(p *searchParams, now time.Time) ([][]byte, int) {
	s := e.store
	s.mu.RLock()
	defer s.mu.RUnlock()

	lo, hi := 0, len(s.sorted)
	q := p.q
	if q != nil {
		if b := createdBounds(q); b != nil {
			lo, hi = b.indexRange(s.sorted)
			// A query that is only the created_at range is answered by the
			// index bounds alone.
			if r, ok := q.(rangeNode); ok && r.field == "created_at" {
				q = nil
			}
		}
	}
	start := p.page * p.perPage
	end := start + p.perPage
	byIndex := p.sortField == "" || p.sortField == "created_at"

	var hits []hit
	total := 0
	visit := func(u *user) {
		v := u.searchVersion(now)
		if v == nil {
			return
		}
		if q != nil && !q.match(u, v) {
			return
		}
		if byIndex {
			if total >= start && total < end {
				hits = append(hits, hit{u, v})
			}
		} else {
			hits = append(hits, hit{u, v})
		}
		total++
	}
	if byIndex && p.sortDesc {
		for i := hi - 1; i >= lo; i-- {
			visit(s.sorted[i])
		}
	} else {
		for i := lo; i < hi; i++ {
			visit(s.sorted[i])
		}
	}
	if !byIndex {
		hits = sortedPage(hits, p.sortField, p.sortDesc, start, end)
	}
	out := make([][]byte, len(hits))
	for i, h := range hits {
		if p.sel != nil {
			out[i] = render(p.sel.apply(h.v.doc))
		} else {
			out[i] = h.v.raw
		}
	}
	return out, total
}

// sortedPage sorts hits by another field than created_at and cuts the page
// [start, end). The sort is stable over the index order, so ties keep the
// (created_at, user_id) order.
func sortedPage(hits []hit, field string, desc bool, start, end int) []hit {
	sort.SliceStable(hits, func(i, j int) bool {
		c := compareField(hits[i].v.doc, hits[j].v.doc, field)
		if desc {
			return c > 0
		}
		return c < 0
	})
	if start >= len(hits) {
		return nil
	}
	return hits[start:min(end, len(hits))]
}

// compareField orders two profiles by one field; absent values sort last.
func compareField(a, b map[string]any, field string) int {
	va, oka := lookupField(a, field)
	vb, okb := lookupField(b, field)
	switch {
	case !oka && !okb:
		return 0
	case !oka:
		return 1
	case !okb:
		return -1
	}
	if fa, ok := toFloat(va); ok {
		if fb, ok := toFloat(vb); ok {
			switch {
			case fa < fb:
				return -1
			case fa > fb:
				return 1
			}
			return 0
		}
	}
	return strings.Compare(valueString(va), valueString(vb))
}
