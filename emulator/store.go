package emulator

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultConnection is the database connection users land in by default.
const DefaultConnection = "Username-Password-Authentication"

// timeLayout is Auth0's timestamp format: RFC 3339, UTC, milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// version is one state of a user's profile. Search sees the newest version
// whose visibleAt has passed (index lag); get-by-id sees the newest.
type version struct {
	doc       map[string]any
	raw       []byte
	visibleAt time.Time
	// email is doc["email"] kept beside the map: the most searched field
	// is then matched without touching the map.
	email string
}

func newVersion(doc map[string]any, visibleAt time.Time) *version {
	email, _ := doc["email"].(string)
	return &version{doc: doc, raw: render(doc), visibleAt: visibleAt, email: email}
}

type user struct {
	id         string
	connection string
	emailKey   string // lower-cased email, the by-email index key
	username   string
	createdAt  time.Time
	cur        *version
	prev       *version // what search saw before cur became visible
	// goneAt is set when the user was deleted: search keeps finding it
	// until then (index lag); get-by-id and users-by-email no longer do.
	goneAt time.Time
}

// searchVersion is what the search index holds for u at now (nil: not yet
// indexed).
func (u *user) searchVersion(now time.Time) *version {
	if !u.goneAt.IsZero() && !now.Before(u.goneAt) {
		return nil
	}
	if !now.Before(u.cur.visibleAt) {
		return u.cur
	}
	if u.prev != nil && !now.Before(u.prev.visibleAt) {
		return u.prev
	}
	return nil
}

// store holds the tenant's users. sorted is ordered by (created_at,
// user_id): the search index order. Ties on created_at therefore come back
// in user_id order, which is stable and not creation order.
type store struct {
	mu      sync.RWMutex
	byID    map[string]*user
	byEmail map[string][]*user
	byName  map[string]*user // connection + "\x00" + username
	sorted  []*user
	// gone are deleted users still in sorted until their goneAt (tombstones.go).
	gone []*user
}

func newStore() *store {
	return &store{byID: map[string]*user{}, byEmail: map[string][]*user{}, byName: map[string]*user{}}
}

func less(a, b *user) bool {
	if !a.createdAt.Equal(b.createdAt) {
		return a.createdAt.Before(b.createdAt)
	}
	return a.id < b.id
}

// insertSorted puts u in place; O(log n) search plus one memmove.
func (s *store) insertSorted(u *user) {
	n := len(s.sorted)
	if n == 0 || less(s.sorted[n-1], u) {
		s.sorted = append(s.sorted, u)
		return
	}
	i := sort.Search(n, func(i int) bool { return less(u, s.sorted[i]) })
	s.sorted = append(s.sorted, nil)
	copy(s.sorted[i+1:], s.sorted[i:])
	s.sorted[i] = u
}

func (s *store) removeSorted(u *user) {
	// A deleted user's tombstone and its re-created namesake may share the
	// key (created_at, user_id): look for u itself among the equal keys.
	for i := sort.Search(len(s.sorted), func(i int) bool { return !less(s.sorted[i], u) }); i < len(s.sorted) && !less(u, s.sorted[i]); i++ {
		if s.sorted[i] == u {
			s.sorted = append(s.sorted[:i], s.sorted[i+1:]...)
			return
		}
	}
}

func (s *store) addIndexes(u *user) {
	s.byID[u.id] = u
	if u.emailKey != "" {
		s.byEmail[u.emailKey] = append(s.byEmail[u.emailKey], u)
	}
	if u.username != "" {
		s.byName[u.connection+"\x00"+u.username] = u
	}
}

func (s *store) removeIndexes(u *user) {
	delete(s.byID, u.id)
	s.removeEmail(u)
	s.removeName(u)
}

func (s *store) removeName(u *user) {
	if u.username != "" && s.byName[u.connection+"\x00"+u.username] == u {
		delete(s.byName, u.connection+"\x00"+u.username)
	}
}

func (s *store) removeEmail(u *user) {
	if u.emailKey == "" {
		return
	}
	list := s.byEmail[u.emailKey]
	for i, x := range list {
		if x == u {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.byEmail, u.emailKey)
	} else {
		s.byEmail[u.emailKey] = list
	}
}

// conflict reports whether another user of the connection has the email or
// username.
func (s *store) conflict(connection, emailKey, username string, except *user) bool {
	if emailKey != "" {
		for _, x := range s.byEmail[emailKey] {
			if x != except && x.connection == connection {
				return true
			}
		}
	}
	if username != "" {
		if x, ok := s.byName[connection+"\x00"+username]; ok && x != except {
			return true
		}
	}
	return false
}

// render encodes a profile. Keys come out sorted, like most of Auth0's.
func render(doc map[string]any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(doc)
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// defaultPicture is Auth0's gravatar default for an email.
func defaultPicture(email string) string {
	sum := md5.Sum([]byte(strings.ToLower(strings.TrimSpace(email))))
	initials := "us"
	local := email
	if i := strings.IndexByte(email, '@'); i >= 0 {
		local = email[:i]
	}
	if len(local) >= 2 {
		initials = strings.ToLower(local[:2])
	}
	return "https://s.gravatar.com/avatar/" + hex.EncodeToString(sum[:]) + "?s=480&r=pg&d=" +
		url.QueryEscape("https://cdn.auth0.com/avatars/"+initials+".png")
}

// socialProviders are the identity providers Auth0 flags isSocial.
var socialProviders = map[string]bool{
	"google-oauth2": true, "facebook": true, "github": true, "twitter": true, "apple": true,
	"linkedin": true, "windowslive": true, "amazon": true, "instagram": true, "dropbox": true,
	"bitbucket": true, "box": true, "paypal": true, "salesforce": true, "yahoo": true, "line": true,
}

// newUserDoc builds the stored profile of a new database user from already
// validated fields (password and verify_email removed).
func newUserDoc(id, connection string, created time.Time, fields map[string]any) map[string]any {
	doc := make(map[string]any, len(fields)+8)
	for k, v := range fields {
		doc[k] = v
	}
	ts := formatTime(created)
	doc["user_id"] = id
	doc["created_at"] = ts
	doc["updated_at"] = ts
	provider, bare, _ := strings.Cut(id, "|")
	doc["identities"] = []any{map[string]any{
		"connection": connection,
		"user_id":    bare,
		"provider":   provider,
		"isSocial":   socialProviders[provider],
	}}
	email, _ := doc["email"].(string)
	if _, ok := doc["email_verified"]; !ok && email != "" {
		doc["email_verified"] = false
	}
	if _, ok := doc["name"]; !ok {
		switch {
		case email != "":
			doc["name"] = email
		case doc["username"] != nil:
			doc["name"] = doc["username"]
		case doc["phone_number"] != nil:
			doc["name"] = doc["phone_number"]
		}
	}
	if _, ok := doc["nickname"]; !ok {
		switch {
		case email != "":
			local, _, _ := strings.Cut(email, "@")
			doc["nickname"] = local
		case doc["username"] != nil:
			doc["nickname"] = doc["username"]
		}
	}
	if _, ok := doc["picture"]; !ok {
		doc["picture"] = defaultPicture(email)
	}
	return doc
}
