package vm

import (
	"testing"
	"time"
)

func TestTimeScale(t *testing.T) {
	ms := time.Millisecond
	host := Calibration{Faults: 10 * ms, Compute: 20 * ms, Spawn: 5 * ms}
	for _, c := range []struct {
		guest, host Calibration
		want        int
	}{
		{host, host, 1},
		{Calibration{5 * ms, 10 * ms, 5 * ms}, host, 1},    // a faster guest never shortens limits
		{Calibration{11 * ms, 20 * ms, 5 * ms}, host, 4},   // 1.1x, doubled, to a power of two
		{Calibration{10 * ms, 40 * ms, 5 * ms}, host, 4},   // exactly 2x: 4
		{Calibration{10 * ms, 20 * ms, 35 * ms}, host, 16}, // starts decide: 7x
		{Calibration{10 * ms, 20 * ms, 40 * ms}, host, 16}, // 8x: 16
		{Calibration{10 * ms, 20 * ms, time.Second}, host, MaxTimeScale},
		{Calibration{time.Second, time.Second, time.Second}, Calibration{}, 1}, // no host figure: no scaling
	} {
		if got := TimeScale(c.guest, c.host); got != c.want {
			t.Errorf("TimeScale(%+v, %+v) = %d, want %d", c.guest, c.host, got, c.want)
		}
	}
}

func TestCalibrate(t *testing.T) {
	c := Calibrate("/bin/true")
	if c.Faults <= 0 || c.Compute <= 0 || c.Spawn <= 0 {
		t.Errorf("calibration %+v", c)
	}
}
