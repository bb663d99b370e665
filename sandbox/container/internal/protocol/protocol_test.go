package protocol

// Round trips and refusals of the header and of every message body.

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	h := Header{Kind: KindExec, Seq: 7, BodyLen: 3, NumFDs: 2}
	pkt := append(AppendHeader(nil, h), 1, 2, 3)
	got, body, err := ParsePacket(pkt, 2)
	if err != nil || got != h || !bytes.Equal(body, []byte{1, 2, 3}) {
		t.Fatalf("got %+v %v %v", got, body, err)
	}
}

func TestParsePacketRefuses(t *testing.T) {
	good := AppendHeader(nil, Header{Kind: KindPing, Seq: 1})
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for name, c := range map[string]struct {
		pkt []byte
		fds int
	}{
		"short":          {good[:10], 0},
		"magic":          {mutate(func(b []byte) []byte { b[0] = 'x'; return b }), 0},
		"version":        {mutate(func(b []byte) []byte { b[2] = 9; return b }), 0},
		"kind":           {mutate(func(b []byte) []byte { b[3] = 0x99; return b }), 0},
		"flags":          {mutate(func(b []byte) []byte { b[12] = 0x80; return b }), 0},
		"fd count":       {good, 1},
		"body length":    {append(mutate(func(b []byte) []byte { return b }), 'x'), 0},
		"huge body":      {AppendHeader(nil, Header{Kind: KindExec, BodyLen: MaxBody + 1}), 0},
		"oversize":       {append(good, make([]byte, MaxPacket)...), 0},
		"body fd no fd":  {AppendHeader(nil, Header{Kind: KindExec, BodyLen: 5, Flags: FlagBodyInFD}), 0},
		"body fd inline": {append(AppendHeader(nil, Header{Kind: KindExec, BodyLen: 1, Flags: FlagBodyInFD, NumFDs: 1}), 'x'), 1},
	} {
		if _, _, err := ParsePacket(c.pkt, c.fds); !errors.Is(err, ErrViolation) {
			t.Errorf("%s: got %v, want ErrViolation", name, err)
		}
	}
}

func TestBodiesRoundTrip(t *testing.T) {
	conf := Conf{WorkDir: "/run/w", TmpfsSize: 1 << 20, Binds: []BindConf{{"/a", "/b", true}}, SyncStart: true, CgroupProcs: 3}
	if got, err := UnmarshalConf(MarshalConf(conf)); err != nil || !reflect.DeepEqual(got, conf) {
		t.Fatalf("conf %+v %v", got, err)
	}
	x := Exec{Args: []string{"/bin/true", "\xff"}, Env: []string{"A=1"}, Dir: "/w", Hostname: "h",
		RLimits: []RLimitConf{{Resource: 7, Cur: 64, Max: 64}}, Syscalls: "kill", Files: []bool{true, false, true}, ExecFD: true, Sync: true, Queued: true, ResetAfter: true}
	if got, err := UnmarshalExec(MarshalExec(x)); err != nil || !reflect.DeepEqual(got, x) {
		t.Fatalf("exec %+v %v", got, err)
	}
	if x.NumFDs() != 3 {
		t.Fatalf("NumFDs %d", x.NumFDs())
	}
	ex := Exited{WaitStatus: 9, UserNanos: 1, SysNanos: 2, MaxRSSKiB: 3, VoluntarySwitches: 5, ForcedSwitches: 6, Others: 4}
	if got, err := UnmarshalExited(MarshalExited(ex)); err != nil || got != ex {
		t.Fatalf("exited %+v %v", got, err)
	}
	ef := ExecFailed{ProgramFault: true, Errno: 2, Message: "no such file"}
	if got, err := UnmarshalExecFailed(MarshalExecFailed(ef)); err != nil || got != ef {
		t.Fatalf("exec-failed %+v %v", got, err)
	}
	er := ErrorReply{Errno: 13, Message: strings.Repeat("m", MaxMessageText+10)}
	if got, err := UnmarshalError(MarshalError(er)); err != nil || len(got.Message) != MaxMessageText {
		t.Fatalf("error %d %v", len(got.Message), err)
	}
	if got, err := UnmarshalStarted(MarshalStarted(Started{BoxPid: 5})); err != nil || got.BoxPid != 5 {
		t.Fatalf("started %+v %v", got, err)
	}
	if got, err := UnmarshalProceed(MarshalProceed(Proceed{Message: "no"})); err != nil || got.OK || got.Message != "no" {
		t.Fatalf("proceed %+v %v", got, err)
	}
}

func TestBodiesRefuse(t *testing.T) {
	good := MarshalExec(Exec{Args: []string{"x"}, Dir: "/w"})
	for name, f := range map[string]func() error{
		"trailing":     func() error { _, err := UnmarshalExec(append(good, 0)); return err },
		"truncated":    func() error { _, err := UnmarshalExec(good[:len(good)-1]); return err },
		"no program":   func() error { _, err := UnmarshalExec(MarshalExec(Exec{})); return err },
		"nul in arg":   func() error { _, err := UnmarshalExec(MarshalExec(Exec{Args: []string{"a\x00b"}})); return err },
		"relative dir": func() error { _, err := UnmarshalExec(MarshalExec(Exec{Args: []string{"x"}, Dir: "w"})); return err },
		"no dir":       func() error { _, err := UnmarshalExec(MarshalExec(Exec{Args: []string{"x"}})); return err },
		"bad rlimit": func() error {
			_, err := UnmarshalExec(MarshalExec(Exec{Args: []string{"x"}, RLimits: []RLimitConf{{Resource: 1, Cur: 2, Max: 1}}}))
			return err
		},
		"bad syscalls": func() error {
			_, err := UnmarshalExec(MarshalExec(Exec{Args: []string{"x"}, Syscalls: "allow"}))
			return err
		},
		"many files": func() error {
			_, err := UnmarshalExec(MarshalExec(Exec{Args: []string{"x"}, Files: make([]bool, MaxChildFiles+1)}))
			return err
		},
		"lying count":   func() error { _, err := UnmarshalExec([]byte{0xff, 0xff, 0xff, 0x0f}); return err },
		"bool byte":     func() error { _, err := UnmarshalProceed([]byte{2, 0, 0, 0, 0}); return err },
		"relative work": func() error { _, err := UnmarshalConf(MarshalConf(Conf{WorkDir: "w"})); return err },
		"procs without sync": func() error {
			_, err := UnmarshalConf(MarshalConf(Conf{WorkDir: "/w", CgroupProcs: 1}))
			return err
		},
		"born and sync": func() error {
			_, err := UnmarshalConf(MarshalConf(Conf{WorkDir: "/w", CgroupFD: true, SyncStart: true}))
			return err
		},
		"many procs": func() error {
			_, err := UnmarshalConf(MarshalConf(Conf{WorkDir: "/w", SyncStart: true, CgroupProcs: MaxCgroupProcs + 1}))
			return err
		},
		"started pid 1": func() error { _, err := UnmarshalStarted(MarshalStarted(Started{BoxPid: 1})); return err },
		"negative cpu":  func() error { _, err := UnmarshalExited(MarshalExited(Exited{UserNanos: -1})); return err },
	} {
		if err := f(); !errors.Is(err, ErrViolation) {
			t.Errorf("%s: got %v, want ErrViolation", name, err)
		}
	}
}
