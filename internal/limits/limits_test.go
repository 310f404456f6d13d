package limits

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"time"
)

func TestText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		2 * time.Minute: "2m", 168 * time.Hour: "168h", 300 * time.Millisecond: "300ms",
		15 * time.Second: "15s", 90 * time.Minute: "1h30m", 0: "0s",
	} {
		if got := Text(d); got != want {
			t.Errorf("Text(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestFirstBroken(t *testing.T) {
	err := FirstBroken("pkg",
		Bound{Name: "A", Value: 1, Broken: false, Want: "must be >= 0"},
		Bound{Name: "B", Value: -2 * time.Second, Broken: true, Want: "must be >= 0"},
		Bound{Name: "C", Value: -3, Broken: true, Want: "must be >= 0"})
	if err == nil || err.Error() != "pkg: B -2s must be >= 0" {
		t.Fatalf("FirstBroken = %v, want the first broken bound", err)
	}
	if err := FirstBroken("pkg", Bound{Name: "A", Value: 1}); err != nil {
		t.Fatalf("no bound broken: %v", err)
	}
}

func TestFill(t *testing.T) {
	n, d, s := 0, -time.Second, ""
	Fill(&n, 5)
	Fill(&d, time.Minute) // negative is not zero: left for the bounds checks
	Fill(&s, "x")
	if n != 5 || d != -time.Second || s != "x" {
		t.Fatalf("Fill: %d %v %q", n, d, s)
	}
	FillPositive(&d, time.Minute)
	m := 3
	FillPositive(&m, 7)
	if d != time.Minute || m != 3 {
		t.Fatalf("FillPositive: %v %d", d, m)
	}
}

func TestInvalidReadsAsItsErrorAndMatchesBoth(t *testing.T) {
	sentinel, cause := errors.New("x: invalid options"), fs.ErrNotExist
	err := Invalid(sentinel, fmt.Errorf("x: Options.File: %w", cause))
	if err.Error() != "x: Options.File: file does not exist" || !errors.Is(err, sentinel) || !errors.Is(err, cause) {
		t.Fatalf("Invalid = %q; is sentinel %v, is cause %v", err, errors.Is(err, sentinel), errors.Is(err, cause))
	}
	if Invalid(sentinel, nil) != nil {
		t.Fatal("Invalid(sentinel, nil) is not nil")
	}
}
