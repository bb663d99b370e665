package protocol

// Fuzz targets of the decoders, with their seed corpus in testdata/fuzz.

import (
	"reflect"
	"testing"
)

// The fuzz targets feed the decoders arbitrary bytes: they must return a
// value or an error, never panic, hang or allocate out of proportion; and
// whatever they accept must encode back to something that decodes the
// same. Run one with: go test -fuzz FuzzUnmarshalExec ./sandbox/container/internal/protocol
// (seed corpus in testdata/fuzz).

func FuzzParsePacket(f *testing.F) {
	f.Add(AppendHeader(nil, Header{Kind: KindPing, Seq: 1}), 0)
	f.Add(append(AppendHeader(nil, Header{Kind: KindExec, Seq: 2, BodyLen: 3, NumFDs: 1}), 1, 2, 3), 1)
	f.Fuzz(func(t *testing.T, pkt []byte, fds int) {
		h, body, err := ParsePacket(pkt, fds)
		if err != nil {
			return
		}
		if h.Flags&FlagBodyInFD == 0 && int(h.BodyLen) != len(body) {
			t.Fatalf("accepted a body of %d bytes announced as %d", len(body), h.BodyLen)
		}
		if int(h.NumFDs) != fds {
			t.Fatalf("accepted %d descriptors announced as %d", fds, h.NumFDs)
		}
	})
}

func FuzzUnmarshalExec(f *testing.F) {
	f.Add(MarshalExec(Exec{Args: []string{"/bin/true"}, Dir: "/w", Files: []bool{true, true, true}}))
	f.Add(MarshalExec(Exec{Args: []string{"sh", "-c", "x"}, Env: []string{"A=B"}, Dir: "/w", Hostname: "h",
		RLimits: []RLimitConf{{Resource: 1, Cur: 1, Max: 2}}, Syscalls: "errno", ExecFD: true}))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := UnmarshalExec(b)
		if err != nil {
			return
		}
		again, err := UnmarshalExec(MarshalExec(x))
		if err != nil || !reflect.DeepEqual(again, x) {
			t.Fatalf("round trip: %+v -> %+v, %v", x, again, err)
		}
	})
}

func FuzzUnmarshalConf(f *testing.F) {
	f.Add(MarshalConf(Conf{WorkDir: "/w", TmpfsSize: 64 << 20, Binds: []BindConf{{"/a", "/b", false}}, SyncStart: true}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := UnmarshalConf(b)
		if err != nil {
			return
		}
		again, err := UnmarshalConf(MarshalConf(c))
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("round trip: %+v -> %+v, %v", c, again, err)
		}
	})
}

// FuzzReplies covers every body the host decodes from an init, which is
// the direction a compromised container would attack.
func FuzzReplies(f *testing.F) {
	f.Add(uint8(KindExited), MarshalExited(Exited{WaitStatus: 256, UserNanos: 5}))
	f.Add(uint8(KindExecFailed), MarshalExecFailed(ExecFailed{ProgramFault: true, Errno: 2, Message: "x"}))
	f.Add(uint8(KindError), MarshalError(ErrorReply{Errno: 1, Message: "m"}))
	f.Add(uint8(KindStarted), MarshalStarted(Started{BoxPid: 2}))
	f.Add(uint8(KindProceed), MarshalProceed(Proceed{OK: true}))
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		switch Kind(kind % 5) {
		case 0:
			if x, err := UnmarshalExited(b); err == nil {
				if again, err := UnmarshalExited(MarshalExited(x)); err != nil || again != x {
					t.Fatalf("exited round trip %+v", x)
				}
			}
		case 1:
			if x, err := UnmarshalExecFailed(b); err == nil {
				if again, err := UnmarshalExecFailed(MarshalExecFailed(x)); err != nil || again != x {
					t.Fatalf("exec-failed round trip %+v", x)
				}
			}
		case 2:
			if x, err := UnmarshalError(b); err == nil && len(x.Message) > MaxMessageText {
				t.Fatalf("error text of %d bytes", len(x.Message))
			}
		case 3:
			if x, err := UnmarshalStarted(b); err == nil && x.BoxPid <= 1 {
				t.Fatalf("started with pid %d", x.BoxPid)
			}
		case 4:
			UnmarshalProceed(b)
		}
	})
}
