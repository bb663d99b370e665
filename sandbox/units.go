package sandbox

// ParseSize and FormatSize: sizes in B, KiB, MiB, GiB.

import (
	"fmt"
	"strconv"
	"strings"
)

var sizeUnits = []struct {
	suffix string
	scale  int64
}{
	{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1},
}

// ParseSize reads a size such as "64MiB", "512KiB", "1GiB" or "100B". A bare
// number is bytes.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	scale := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, scale = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.scale
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a whole number with B, KiB, MiB or GiB", s)
	}
	if n > (1<<62)/scale {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n * scale, nil
}

// FormatSize writes n bytes in the largest unit that divides it exactly.
func FormatSize(n int64) string {
	for _, u := range sizeUnits {
		if n != 0 && n%u.scale == 0 {
			return fmt.Sprintf("%d%s", n/u.scale, u.suffix)
		}
	}
	return fmt.Sprintf("%dB", n)
}
