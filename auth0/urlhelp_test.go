package auth0_test

import (
	"encoding/json"
	"net/http"
	"net/url"
)

func urlUnescape(s string) (string, error) { return url.PathUnescape(s) }

func jsonDecode(r *http.Request, v any) error { return json.NewDecoder(r.Body).Decode(v) }
