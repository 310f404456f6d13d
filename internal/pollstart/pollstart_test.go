package pollstart

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 600, time.UTC)
	cases := []struct {
		in   string
		want Start
		err  error
	}{
		{"", Start{Mode: Now}, nil},
		{" now ", Start{Mode: Now}, nil},
		{"all", Start{Mode: All}, nil},
		{"2024-01-02T04:04:05.0000006+01:00", Start{Mode: Time, Time: at}, nil},
		{"yesterday", Start{}, ErrSyntax},
		{"ALL", Start{}, ErrSyntax},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if !errors.Is(err, c.err) || got.Mode != c.want.Mode || !got.Time.Equal(c.want.Time) || got.Time.Location() != time.UTC {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, %v (UTC)", c.in, got, err, c.want, c.err)
		}
		if err == nil {
			if back, _ := Parse(got.String()); back != got {
				t.Errorf("Parse(%q).String() = %q does not parse back to the same start", c.in, got.String())
			}
		}
	}
	if (Start{}).String() != "now" {
		t.Errorf("the zero Start reads %q, want now", Start{}.String())
	}
}
