package auth0_test

import "net/url"

func urlUnescape(s string) (string, error) { return url.PathUnescape(s) }
