package emulator

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func seedSearchUsers(t testing.TB, e *Emulator) []string {
	t.Helper()
	base := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)
	users := []SeedUser{
		{UserID: "auth0|aaa111", Email: "Jane.Doe@Example.com", CreatedAt: base, Indexed: true, Fields: map[string]any{
			"name": "Jane Doe", "given_name": "Jane", "family_name": "Doe", "nickname": "JD", "username": "JaneD",
			"email_verified": true, "logins_count": 5, "blocked": false,
			"app_metadata": map[string]any{"plan": "Pro", "tags": []any{"a", "b"}}, "user_metadata": map[string]any{"lang": "fr"},
			"last_login": "2024-03-11T08:00:00.000Z"}},
		{UserID: "auth0|bbb222", Email: "john@example.org", CreatedAt: base.Add(time.Hour), Indexed: true, Fields: map[string]any{
			"name": "John Smith", "logins_count": 12, "blocked": true, "app_metadata": map[string]any{"plan": "free"}}},
		{UserID: "auth0|ccc333", Email: "zed@example.com", Connection: "Other-DB", CreatedAt: base.Add(24 * time.Hour), Indexed: true, Fields: map[string]any{
			"name": "Zed", "logins_count": 0, "phone_number": "+15550001111"}},
		{UserID: "google-oauth2|1234", Email: "social@gmail.com", CreatedAt: base.Add(48 * time.Hour), Indexed: true},
	}
	ids, err := e.CreateUsers(users)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestSearchLucene(t *testing.T) {
	s := newTestServer(t, Config{})
	seedSearchUsers(t, s.Emulator)
	c := newClient(t, s)
	cases := []struct {
		q    string
		want []string
	}{
		{`email:jane.doe@example.com`, []string{"auth0|aaa111"}},
		{`email:"JANE.DOE@EXAMPLE.COM"`, []string{"auth0|aaa111"}},
		{`name:"jane doe"`, []string{"auth0|aaa111"}},
		{`name:jane`, nil}, // values are not tokenized
		{`name:jan*`, []string{"auth0|aaa111"}},
		{`username:janed`, nil}, // username is case-sensitive
		{`username:JaneD`, []string{"auth0|aaa111"}},
		{`user_id:auth0`, nil},
		{`user_id:auth0*`, []string{"auth0|aaa111", "auth0|bbb222", "auth0|ccc333"}},
		{`user_id:"auth0|bbb222"`, []string{"auth0|bbb222"}},
		{`user_id:auth0|bbb222`, []string{"auth0|bbb222"}},
		{`email_verified:true`, []string{"auth0|aaa111"}},
		{`blocked:true`, []string{"auth0|bbb222"}},
		{`logins_count:[1 TO 12}`, []string{"auth0|aaa111"}},
		{`logins_count:[5 TO *]`, []string{"auth0|aaa111", "auth0|bbb222"}},
		{`logins_count:{5 TO *]`, []string{"auth0|bbb222"}},
		{`logins_count:12`, []string{"auth0|bbb222"}},
		{`created_at:[2024-03-10 TO 2024-03-11]`, []string{"auth0|aaa111", "auth0|bbb222"}},
		{`created_at:[2024-03-10T12:00:00.000Z TO 2024-03-10T13:00:00.000Z}`, []string{"auth0|aaa111"}},
		{`created_at:{2024-03-10T12:00:00.000Z TO *]`, []string{"auth0|bbb222", "auth0|ccc333", "google-oauth2|1234"}},
		{`created_at:[* TO 2024-03-10T13:00:00Z]`, []string{"auth0|aaa111", "auth0|bbb222"}},
		{`created_at:2024-03-11`, []string{"auth0|ccc333"}},
		{`created_at:"2024-03-10T13:00:00.000Z"`, []string{"auth0|bbb222"}},
		{`last_login:[2024-03-11 TO *]`, []string{"auth0|aaa111"}},
		{`updated_at:[2024-03-10T12:00:00.000Z TO 2024-03-10T12:00:00.000Z]`, []string{"auth0|aaa111"}},
		{`identities.connection:"Other-DB"`, []string{"auth0|ccc333"}},
		{`identities.connection:other-db`, nil},
		{`email.domain:EXAMPLE.org`, []string{"auth0|bbb222"}},
		{`email.domain:example.com AND NOT name:Zed`, []string{"auth0|aaa111"}},
		{`identities.connection:google-oauth2`, []string{"google-oauth2|1234"}},
		{`app_metadata.plan:Pro`, []string{"auth0|aaa111"}},
		{`app_metadata.plan:pro`, nil}, // metadata is exact
		{`app_metadata.tags:b`, []string{"auth0|aaa111"}},
		{`user_metadata.lang:"fr"`, []string{"auth0|aaa111"}},
		{`phone_number:"+15550001111"`, []string{"auth0|ccc333"}},
		{`phone_number:*`, []string{"auth0|ccc333"}},
		{`name:"Jane Doe" AND blocked:false`, []string{"auth0|aaa111"}},
		{`name:"Jane Doe" OR name:Zed`, []string{"auth0|aaa111", "auth0|ccc333"}},
		{`name:"Jane Doe" name:Zed`, []string{"auth0|aaa111", "auth0|ccc333"}},
		{`user_id:auth0* AND NOT blocked:true`, []string{"auth0|aaa111", "auth0|ccc333"}},
		{`user_id:auth0* -blocked:true`, []string{"auth0|aaa111", "auth0|ccc333"}},
		{`NOT user_id:auth0*`, []string{"google-oauth2|1234"}},
		{`(name:Zed OR name:"John Smith") AND logins_count:[1 TO *]`, []string{"auth0|bbb222"}},
		{`name:(Zed OR "John Smith")`, []string{"auth0|bbb222", "auth0|ccc333"}},
		{`created_at:[2024-03-10 TO *] AND (email:*)`, []string{"auth0|aaa111", "auth0|bbb222", "auth0|ccc333", "google-oauth2|1234"}},
		{`*:*`, []string{"auth0|aaa111", "auth0|bbb222", "auth0|ccc333", "google-oauth2|1234"}},
		{`zed@example.com`, []string{"auth0|ccc333"}},
	}
	for _, tc := range cases {
		t.Run(tc.q, func(t *testing.T) {
			r := c.do("GET", "/api/v2/users?search_engine=v3&per_page=100&q="+url.QueryEscape(tc.q), nil)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			var got []string
			for _, u := range r.arr(t) {
				got = append(got, u.(map[string]any)["user_id"].(string))
			}
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSearchBadQueries(t *testing.T) {
	s := newTestServer(t, Config{})
	c := newClient(t, s)
	cases := map[string]string{
		`email:*example.com`:                 "wildcard",
		`name:ja*ne`:                         "wildcard",
		`app_metadata.plan:Pr*`:              "metadata",
		`app_metadata.n:[1 TO 2]`:            "metadata",
		`password:x`:                         `"password"`,
		`name:"unterminated`:                 "unterminated",
		`(name:x`:                            "parenthesis",
		`name:x)`:                            "parenthesis",
		`created_at:[2024-01-01 2024-02-01]`: "TO",
		`created_at:[yesterday TO *]`:        "yesterday",
		`logins_count:[a TO 3]`:              "number",
		`name:`:                              "missing value",
		`name:x AND`:                         "AND",
		`NOT`:                                "NOT",
		`created_at:[2024-01-01 TO *`:        "]",
	}
	for q, want := range cases {
		t.Run(q, func(t *testing.T) {
			m := wantAPIError(t, c.do("GET", "/api/v2/users?q="+url.QueryEscape(q), nil), 400, "invalid_query_string")
			if !strings.Contains(m["message"].(string), want) {
				t.Fatalf("message %q does not mention %q", m["message"], want)
			}
		})
	}
	wantAPIError(t, c.do("GET", "/api/v2/users?sort=created_at", nil), 400, "invalid_query_string")
	wantAPIError(t, c.do("GET", "/api/v2/users?page=-1", nil), 400, "invalid_query_string")
	wantAPIError(t, c.do("GET", "/api/v2/users?include_totals=yes", nil), 400, "invalid_query_string")
}

func TestSearchSortPagingTies(t *testing.T) {
	s := newTestServer(t, Config{Seed: 42})
	c := newClient(t, s)
	ms := time.Date(2025, 1, 1, 0, 0, 0, 123e6, time.UTC)
	var seeds []SeedUser
	for i := 0; i < 300; i++ {
		// 300 users sharing one millisecond, then 50 more a second later.
		seeds = append(seeds, SeedUser{Email: fmt.Sprintf("tie%03d@example.com", i), CreatedAt: ms, Indexed: true, Fields: map[string]any{"logins_count": i % 7}})
	}
	for i := 0; i < 50; i++ {
		seeds = append(seeds, SeedUser{Email: fmt.Sprintf("late%03d@example.com", i), CreatedAt: ms.Add(time.Second), Indexed: true})
	}
	created, err := s.Emulator.CreateUsers(seeds)
	if err != nil {
		t.Fatal(err)
	}
	page := func(q string, pageNo int, sortSpec string) []string {
		r := c.do("GET", fmt.Sprintf("/api/v2/users?per_page=100&page=%d&sort=%s&q=%s", pageNo, sortSpec, url.QueryEscape(q)), nil)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		var ids []string
		for _, u := range r.arr(t) {
			ids = append(ids, u.(map[string]any)["user_id"].(string))
		}
		return ids
	}
	var all []string
	for p := 0; p < 4; p++ {
		all = append(all, page("created_at:[2025-01-01 TO *]", p, "created_at:1")...)
	}
	if len(all) != 350 {
		t.Fatalf("got %d users", len(all))
	}
	seen := map[string]bool{}
	for _, id := range all {
		if seen[id] {
			t.Fatalf("duplicate %s across pages", id)
		}
		seen[id] = true
	}
	// Ties come back in a stable order (user_id) that is not creation order.
	tied := all[:300]
	if !sort.StringsAreSorted(tied) {
		t.Fatal("ties not in user_id order")
	}
	if strings.Join(tied, ",") == strings.Join(created[:300], ",") {
		t.Fatal("ties came back in creation order")
	}
	again := page("created_at:[2025-01-01 TO *]", 0, "created_at:1")
	if strings.Join(again, ",") != strings.Join(all[:100], ",") {
		t.Fatal("order not stable between calls")
	}
	desc := page("created_at:[2025-01-01 TO *]", 0, "created_at:-1")
	if desc[0] != all[349] || desc[49] != all[300] {
		t.Fatal("descending order wrong")
	}
	byLogins := page("email:tie*", 0, "logins_count:-1")
	r := c.do("GET", "/api/v2/users?per_page=1&q=user_id%3A"+url.QueryEscape(`"`+byLogins[0]+`"`), nil)
	if r.arr(t)[0].(map[string]any)["logins_count"] != 6.0 {
		t.Fatalf("sort by logins_count: %s", r.body)
	}
	// include_totals reports every match; the cap answers past 1000.
	tr := c.do("GET", "/api/v2/users?per_page=10&include_totals=true&q="+url.QueryEscape("email:late*"), nil).obj(t)
	if tr["total"] != 50.0 || tr["length"] != 10.0 {
		t.Fatalf("totals %v", tr)
	}
	m := wantAPIError(t, c.do("GET", "/api/v2/users?per_page=100&page=10&q="+url.QueryEscape("created_at:[2025-01-01 TO *]"), nil), 400, "invalid_paging")
	if !strings.Contains(m["message"].(string), "first 1000 records") {
		t.Fatalf("message %v", m["message"])
	}
	wantAPIError(t, c.do("GET", "/api/v2/users?per_page=50&page=20", nil), 400, "invalid_paging")
	if r := c.do("GET", "/api/v2/users?per_page=50&page=19", nil); r.status != 200 {
		t.Fatalf("page 19 of 50: %d", r.status)
	}
}

func TestIndexLag(t *testing.T) { synctest.Test(t, testIndexLag) }

func testIndexLag(t *testing.T) {
	s := newMemTestServer(t, Config{Knobs: Knobs{IndexLag: 2 * time.Second}})
	c := newClient(t, s)
	r := c.do("POST", "/api/v2/users", createBody("lag@example.com"))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := r.obj(t)["user_id"].(string)
	search := func() int {
		return len(c.do("GET", "/api/v2/users?q="+url.QueryEscape(`email:"lag@example.com"`), nil).arr(t))
	}
	// Visible at once by id and by email, not in search.
	if g := c.do("GET", "/api/v2/users/"+url.PathEscape(id), nil); g.status != 200 {
		t.Fatalf("by id: %d", g.status)
	}
	if n := len(c.do("GET", "/api/v2/users-by-email?email=lag%40example.com", nil).arr(t)); n != 1 {
		t.Fatalf("by email: %d", n)
	}
	if n := search(); n != 0 {
		t.Fatalf("search at 0s: %d", n)
	}
	time.Sleep(time.Second)
	if n := search(); n != 0 {
		t.Fatalf("search at 1s: %d", n)
	}
	if n := len(c.do("GET", "/api/v2/users", nil).arr(t)); n != 0 {
		t.Fatalf("list at 1s: %d", n)
	}
	time.Sleep(2 * time.Second)
	if n := search(); n != 1 {
		t.Fatalf("search at 3s: %d", n)
	}
	// A change is searchable only after its own lag; until then search
	// sees the previous version.
	c.do("PATCH", "/api/v2/users/"+url.PathEscape(id), map[string]any{"given_name": "Later"})
	if n := len(c.do("GET", "/api/v2/users?q=given_name%3ALater", nil).arr(t)); n != 0 {
		t.Fatalf("changed user visible at once: %d", n)
	}
	if n := search(); n != 1 {
		t.Fatalf("previous version gone from search: %d", n)
	}
	time.Sleep(2 * time.Second)
	if n := len(c.do("GET", "/api/v2/users?q=given_name%3ALater", nil).arr(t)); n != 1 {
		t.Fatalf("change not indexed after its lag: %d", n)
	}
}

func TestIndexLagRandomPerUser(t *testing.T) { synctest.Test(t, testIndexLagRandomPerUser) }

func testIndexLagRandomPerUser(t *testing.T) {
	s := newMemTestServer(t, Config{Seed: 7, Knobs: Knobs{IndexLag: 0, IndexLagMax: 3 * time.Second}})
	var seeds []SeedUser
	for i := 0; i < 200; i++ {
		seeds = append(seeds, SeedUser{Email: fmt.Sprintf("r%03d@example.com", i)})
	}
	if _, err := s.Emulator.CreateUsers(seeds); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s)
	count := func() int {
		return int(c.do("GET", "/api/v2/users?per_page=1&include_totals=true", nil).obj(t)["total"].(float64))
	}
	counts := []int{count()}
	for i := 0; i < 4; i++ {
		time.Sleep(time.Second)
		counts = append(counts, count())
	}
	if counts[0] >= 200 || counts[1] <= counts[0] || counts[2] <= counts[1] || counts[2] >= 200 || counts[3] != 200 {
		t.Fatalf("visible counts over time %v: want a spread over [0, 3s]", counts)
	}
}
