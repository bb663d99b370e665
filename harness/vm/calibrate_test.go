package vm

import (
	"testing"
	"time"
)

func TestTimeScale(t *testing.T) {
	ms := time.Millisecond
	host := Calibration{Faults: 10 * ms, Compute: 20 * ms}
	spawn := func(g Calibration, d time.Duration) Calibration { g.Spawn = d; return g }
	for _, c := range []struct {
		guest, host Calibration
		want        int
	}{
		{host, host, 1},
		{Calibration{5 * ms, 10 * ms, 0}, host, 1}, // a faster guest never shortens limits
		{Calibration{11 * ms, 20 * ms, 0}, host, 2},
		{Calibration{70 * ms, 20 * ms, 0}, host, 7},
		{Calibration{10 * ms, 142 * ms, 0}, host, 8},                 // the slower part decides
		{spawn(host, 50*ms), spawn(host, 5*ms), 10},                  // program starts too
		{Calibration{time.Second, time.Second, 0}, Calibration{}, 1}, // no host figure: no scaling
	} {
		if got := TimeScale(c.guest, c.host); got != c.want {
			t.Errorf("TimeScale(%+v, %+v) = %d, want %d", c.guest, c.host, got, c.want)
		}
	}
}

func TestCalibrate(t *testing.T) {
	fastest, median := Calibrate("/bin/true")
	if fastest.Faults <= 0 || fastest.Compute <= 0 || fastest.Spawn <= 0 || median.Faults < fastest.Faults || median.Compute < fastest.Compute || median.Spawn < fastest.Spawn {
		t.Errorf("fastest %+v, median %+v", fastest, median)
	}
}
