package demo

import (
	"strconv"
	"time"
)

// human writes d for people, in the unit that fits and with at most three
// significant digits: "850µs", "42ms", "2.13s", "1m05s", "2h10m". The
// messages the demo writes use it instead of time.Duration's String
// ("2.131331472s").
func human(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + human(-d)
	case d < time.Millisecond:
		return strconv.FormatInt(d.Microseconds(), 10) + "µs"
	case d < time.Second:
		return sig3(float64(d)/float64(time.Millisecond)) + "ms"
	case d < time.Minute:
		return sig3(d.Seconds()) + "s"
	case d < time.Hour:
		d = d.Round(time.Second)
		return strconv.Itoa(int(d/time.Minute)) + "m" + pad2(int(d%time.Minute/time.Second)) + "s"
	}
	d = d.Round(time.Minute)
	return strconv.Itoa(int(d/time.Hour)) + "h" + pad2(int(d%time.Hour/time.Minute)) + "m"
}

// sig3 writes v (1 ≤ v < 1000) with three significant digits, without
// trailing zeros: 2.131 → "2.13", 42.0 → "42", 999.7 → "1000".
func sig3(v float64) string {
	prec := 0
	switch {
	case v < 10:
		prec = 2
	case v < 100:
		prec = 1
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if prec > 0 {
		for s[len(s)-1] == '0' {
			s = s[:len(s)-1]
		}
		if s[len(s)-1] == '.' {
			s = s[:len(s)-1]
		}
	}
	return s
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}
