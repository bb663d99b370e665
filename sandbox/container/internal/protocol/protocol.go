package protocol

// The wire format: header, message bodies, their encoder and decoder (no sockets, no descriptors).

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// This file holds the pure encoding, with no descriptors and no sockets, so
// that it is easy to test and to fuzz.

// Version is the version byte of every header. A peer speaking
// another version is refused at its first message. Version 2 added
// Exec.ResetAfter, the init's reset without a request.
const Version = 2

// Sizes and counts the protocol accepts. Anything larger is an error that
// ends the container: no legitimate peer sends it.
const (
	HeaderSize = 16
	// MaxPacket is the largest datagram either side sends or accepts. A
	// larger body travels in a memfd (FlagBodyInFD).
	MaxPacket = 32 << 10
	// MaxBody is the largest body, inline or in a memfd: enough for the
	// largest argv+envp the kernel could accept (3/4 of the 8 MiB stack
	// cap), so that a huge argv fails as the kernel would, in execve.
	MaxBody = 8 << 20
	// MaxMessageText bounds error and failure texts.
	MaxMessageText = 4 << 10
	// MaxChildFiles is the most descriptor slots (0, 1, 2, ...) a program
	// may be given.
	MaxChildFiles = 12
	// MaxRLimits is the most rlimits one exec sets.
	MaxRLimits = 32
	// MaxBinds is the most extra bind mounts one container has.
	MaxBinds = 64
	// MaxCgroupProcs is the most cgroup.procs descriptors a conf passes
	// (one per cgroup v1 hierarchy).
	MaxCgroupProcs = 8
)

var headerMagic = [2]byte{'g', 's'}

// Kind is what a message is.
type Kind uint8

// Host to init.
const (
	KindPing    Kind = 1 // are you alive and idle? -> OK
	KindConf    Kind = 2 // build the root (once, first) -> OK | Error
	KindExec    Kind = 3 // run a program -> [Started ->Proceed] ExecFailed | Exited [-> OK | Error when ResetAfter]
	KindProceed Kind = 4 // answer to Started: go on, or abort with a reason
	KindKill    Kind = 5 // kill the running program and everything in the box (no reply of its own)
	KindReset   Kind = 6 // wipe what a run can leave behind and check it -> OK | Error
)

// Init to host.
const (
	KindOK         Kind = 0x40
	KindError      Kind = 0x41 // a command failed: errno and text
	KindStarted    Kind = 0x42 // the child exists and waits; its pid comes as SCM_CREDENTIALS
	KindExecFailed Kind = 0x43 // the child never ran the program
	KindExited     Kind = 0x44 // the program ended and the box is empty again
)

func (k Kind) known() bool {
	return (k >= KindPing && k <= KindReset) || (k >= KindOK && k <= KindExited)
}

func (k Kind) String() string {
	switch k {
	case KindPing:
		return "ping"
	case KindConf:
		return "conf"
	case KindExec:
		return "exec"
	case KindProceed:
		return "proceed"
	case KindKill:
		return "kill"
	case KindReset:
		return "reset"
	case KindOK:
		return "ok"
	case KindError:
		return "error"
	case KindStarted:
		return "started"
	case KindExecFailed:
		return "exec-failed"
	case KindExited:
		return "exited"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Header flags.
const (
	// FlagBodyInFD: the body is not in the datagram but in the last
	// descriptor passed with it (a memfd), Header.BodyLen bytes from offset 0.
	FlagBodyInFD uint16 = 1 << 0
	knownFlags          = FlagBodyInFD
)

// Header starts every datagram.
type Header struct {
	Kind    Kind
	Seq     uint32 // request number, echoed by every reply to that request
	BodyLen uint32
	Flags   uint16
	NumFDs  uint16 // descriptors passed with the datagram (SCM_RIGHTS)
}

// ErrViolation is wrapped by every decoding and validation failure: the peer
// broke the protocol and the container must not be trusted again.
var ErrViolation = errors.New("container protocol")

// Errorf returns a protocol violation (wrapping ErrViolation) described by
// format and a.
func Errorf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrViolation, fmt.Sprintf(format, a...))
}

// AppendHeader appends h's encoding to b.
func AppendHeader(b []byte, h Header) []byte {
	b = append(b, headerMagic[0], headerMagic[1], Version, byte(h.Kind))
	b = binary.LittleEndian.AppendUint32(b, h.Seq)
	b = binary.LittleEndian.AppendUint32(b, h.BodyLen)
	b = binary.LittleEndian.AppendUint16(b, h.Flags)
	b = binary.LittleEndian.AppendUint16(b, h.NumFDs)
	return b
}

// ParsePacket checks one received datagram and splits it into header and
// inline body. numFDs is the number of descriptors that came with it.
func ParsePacket(p []byte, numFDs int) (Header, []byte, error) {
	if len(p) < HeaderSize {
		return Header{}, nil, Errorf("datagram of %d bytes, shorter than a header", len(p))
	}
	if len(p) > MaxPacket {
		return Header{}, nil, Errorf("datagram of %d bytes, more than %d", len(p), MaxPacket)
	}
	if p[0] != headerMagic[0] || p[1] != headerMagic[1] {
		return Header{}, nil, Errorf("bad magic %#x %#x", p[0], p[1])
	}
	if p[2] != Version {
		return Header{}, nil, Errorf("version %d, want %d", p[2], Version)
	}
	h := Header{
		Kind:    Kind(p[3]),
		Seq:     binary.LittleEndian.Uint32(p[4:]),
		BodyLen: binary.LittleEndian.Uint32(p[8:]),
		Flags:   binary.LittleEndian.Uint16(p[12:]),
		NumFDs:  binary.LittleEndian.Uint16(p[14:]),
	}
	if !h.Kind.known() {
		return Header{}, nil, Errorf("unknown message kind %d", p[3])
	}
	if h.Flags&^knownFlags != 0 {
		return Header{}, nil, Errorf("unknown flags %#x", h.Flags)
	}
	if int(h.NumFDs) != numFDs {
		return Header{}, nil, Errorf("%s: header announces %d descriptors, %d came", h.Kind, h.NumFDs, numFDs)
	}
	if h.BodyLen > MaxBody {
		return Header{}, nil, Errorf("%s: body of %d bytes, more than %d", h.Kind, h.BodyLen, MaxBody)
	}
	body := p[HeaderSize:]
	if h.Flags&FlagBodyInFD != 0 {
		if len(body) != 0 {
			return Header{}, nil, Errorf("%s: body both inline and in a descriptor", h.Kind)
		}
		if numFDs == 0 {
			return Header{}, nil, Errorf("%s: body in a descriptor, but no descriptor came", h.Kind)
		}
		return h, nil, nil
	}
	if int(h.BodyLen) != len(body) {
		return Header{}, nil, Errorf("%s: header announces a body of %d bytes, %d came", h.Kind, h.BodyLen, len(body))
	}
	return h, body, nil
}

// encoder builds a body: little-endian integers, strings and byte slices as
// a uint32 length then the bytes, lists as a uint32 count then the items.
type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) i32(v int32)  { e.u32(uint32(v)) }
func (e *encoder) i64(v int64)  { e.u64(uint64(v)) }
func (e *encoder) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}
func (e *encoder) str(s string) { e.u32(uint32(len(s))); e.b = append(e.b, s...) }
func (e *encoder) strs(l []string) {
	e.u32(uint32(len(l)))
	for _, s := range l {
		e.str(s)
	}
}

// decoder reads a body, remembering the first error; every read after an
// error returns zero values, so callers check once at the end.
type decoder struct {
	b   []byte
	err error
	// what names the message, for error texts.
	what string
}

func (d *decoder) fail(format string, a ...any) {
	if d.err == nil {
		d.err = Errorf("%s: %s", d.what, fmt.Sprintf(format, a...))
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("truncated body: need %d bytes, %d left", n, len(d.b))
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) i32() int32 { return int32(d.u32()) }
func (d *decoder) i64() int64 { return int64(d.u64()) }

func (d *decoder) bool() bool {
	switch v := d.u8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("boolean byte %d", v)
		return false
	}
}

// str reads a string of at most max bytes.
func (d *decoder) str(max int) string {
	n := d.u32()
	if d.err == nil && uint64(n) > uint64(max) {
		d.fail("string of %d bytes, at most %d", n, max)
		return ""
	}
	return string(d.take(int(n)))
}

// count reads a list length of at most max items, each at least minItem
// bytes long: a lying count cannot make the decoder allocate more than the
// body itself could hold.
func (d *decoder) count(max, minItem int) int {
	n := d.u32()
	if d.err != nil {
		return 0
	}
	if uint64(n) > uint64(max) {
		d.fail("list of %d items, at most %d", n, max)
		return 0
	}
	if uint64(n)*uint64(minItem) > uint64(len(d.b)) {
		d.fail("list of %d items cannot fit in the %d bytes left", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) strs(maxItems, maxLen int) []string {
	n := d.count(maxItems, 4)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str(maxLen)
	}
	return out
}

// end checks that the whole body was read.
func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d unexpected bytes after the body", len(d.b))
	}
	return d.err
}

// Conf is the body of KindConf: how to build the container's root. The init
// builds it with sandbox/mount's default plan.
type Conf struct {
	// WorkDir is the host directory bound read-write at /w.
	WorkDir string
	// TmpfsSize caps /tmp and /dev/shm.
	TmpfsSize int64
	// Binds are extra bind mounts (read-only unless Writable).
	Binds []BindConf
	// SyncStart asks for KindStarted and a KindProceed before each program
	// continues (the host puts it into its cgroup in between). Without it the
	// program runs at once (no cgroup, or cgroup v2 with CgroupFD).
	SyncStart bool
	// CgroupFD says the conf message carries a cgroup v2 directory
	// descriptor: every program starts in it (CLONE_INTO_CGROUP).
	CgroupFD bool
	// SetgroupsDenied: setgroups(2) is denied in the container's user
	// namespace (unprivileged host), so the child must not call it.
	SetgroupsDenied bool
	// CgroupProcs is how many cgroup.procs descriptors of the container's
	// cgroup v1 hierarchies the conf message carries (after the CgroupFD
	// one). Each program then joins its cgroup by itself, writing "0" into
	// them, unless its Exec says Sync; it starts at once and the init
	// reports it with KindStarted, which needs no answer.
	CgroupProcs int
}

// BindConf is one bind mount of a Conf.
type BindConf struct {
	Source, Target string
	Writable       bool
}

const maxPath = 4096

// MaxHostname is the longest hostname sethostname(2) takes.
const MaxHostname = 64

// MarshalConf encodes c.
func MarshalConf(c Conf) []byte {
	var e encoder
	e.str(c.WorkDir)
	e.i64(c.TmpfsSize)
	e.u32(uint32(len(c.Binds)))
	for _, b := range c.Binds {
		e.str(b.Source)
		e.str(b.Target)
		e.bool(b.Writable)
	}
	e.bool(c.SyncStart)
	e.bool(c.CgroupFD)
	e.bool(c.SetgroupsDenied)
	e.u8(uint8(c.CgroupProcs))
	return e.b
}

// UnmarshalConf decodes and validates a Conf body.
func UnmarshalConf(b []byte) (Conf, error) {
	d := decoder{b: b, what: "conf"}
	var c Conf
	c.WorkDir = d.str(maxPath)
	c.TmpfsSize = d.i64()
	n := d.count(MaxBinds, 9)
	for i := 0; i < n && d.err == nil; i++ {
		c.Binds = append(c.Binds, BindConf{Source: d.str(maxPath), Target: d.str(maxPath), Writable: d.bool()})
	}
	c.SyncStart = d.bool()
	c.CgroupFD = d.bool()
	c.SetgroupsDenied = d.bool()
	c.CgroupProcs = int(d.u8())
	if err := d.end(); err != nil {
		return Conf{}, err
	}
	if c.CgroupFD && c.SyncStart {
		// One way into the cgroup: born in it, or joined after the clone.
		return Conf{}, Errorf("conf: a cgroup directory and sync start")
	}
	if c.CgroupProcs > MaxCgroupProcs || (c.CgroupProcs > 0 && !c.SyncStart) {
		return Conf{}, Errorf("conf: %d cgroup.procs descriptors (sync start %v)", c.CgroupProcs, c.SyncStart)
	}
	if c.TmpfsSize < 0 {
		return Conf{}, Errorf("conf: negative tmpfs size %d", c.TmpfsSize)
	}
	if c.WorkDir == "" || c.WorkDir[0] != '/' {
		return Conf{}, Errorf("conf: work dir %q is not an absolute path", c.WorkDir)
	}
	for i, b := range c.Binds {
		if b.Source == "" || b.Source[0] != '/' || b.Target == "" || b.Target[0] != '/' {
			return Conf{}, Errorf("conf: bind %d %q:%q: want absolute paths", i, b.Source, b.Target)
		}
	}
	return c, nil
}

// Exec is the body of KindExec. Its descriptors, in order: one for each true
// entry of Files, then the program's when ExecFD is set (and the body's memfd
// last when the header says FlagBodyInFD).
type Exec struct {
	Args     []string
	Env      []string
	Dir      string // inside the box, absolute (the host fills in the default)
	Hostname string // the box's hostname for this run
	RLimits  []RLimitConf
	// Syscalls is the seccomp mode: "" means none (tests only), else a
	// sandbox.SyscallMode.
	Syscalls string
	// Files says, for child descriptors 0, 1, 2, ..., whether a descriptor
	// was passed for it (true) or it stays closed (false).
	Files  []bool
	ExecFD bool
	// Sync asks for the KindStarted/KindProceed round trip even though the
	// conf passed cgroup.procs descriptors: the host's group has since
	// joined a hierarchy they do not cover (a CPU set).
	Sync bool
	// Queued says the run waited for this container (its reset, most
	// often): runs come back to back, so the init makes the next run's
	// namespaces while this program runs rather than after it.
	Queued bool
	// ResetAfter says the host will not read /w after this run (no
	// copy-out, no copied-in file it must tell from output): the init
	// looks in /w for a file at the output limit itself
	// (Exited.ScratchAtLimit), and right after Exited resets as for
	// KindReset, unasked, answering OK or Error with the exec's Seq. The
	// host sends nothing from Exited to that answer. A run that ends with
	// ExecFailed gets no such reset: the host asks for it as after any
	// other run.
	ResetAfter bool
}

// RLimitConf is one rlimit of an Exec.
type RLimitConf struct {
	Resource int32
	Cur, Max uint64
}

// NumFDs is how many descriptors an Exec message carries (without a body
// memfd).
func (x Exec) NumFDs() int {
	n := 0
	for _, f := range x.Files {
		if f {
			n++
		}
	}
	if x.ExecFD {
		n++
	}
	return n
}

// MarshalExec encodes x.
func MarshalExec(x Exec) []byte {
	var e encoder
	e.strs(x.Args)
	e.strs(x.Env)
	e.str(x.Dir)
	e.str(x.Hostname)
	e.u32(uint32(len(x.RLimits)))
	for _, r := range x.RLimits {
		e.i32(r.Resource)
		e.u64(r.Cur)
		e.u64(r.Max)
	}
	e.str(x.Syscalls)
	e.u32(uint32(len(x.Files)))
	for _, f := range x.Files {
		e.bool(f)
	}
	e.bool(x.ExecFD)
	e.bool(x.Sync)
	e.bool(x.Queued)
	e.bool(x.ResetAfter)
	return e.b
}

// UnmarshalExec decodes and validates an Exec body.
func UnmarshalExec(b []byte) (Exec, error) {
	d := decoder{b: b, what: "exec"}
	var x Exec
	x.Args = d.strs(MaxBody/4, MaxBody)
	x.Env = d.strs(MaxBody/4, MaxBody)
	x.Dir = d.str(maxPath)
	x.Hostname = d.str(MaxHostname)
	n := d.count(MaxRLimits, 20)
	for i := 0; i < n && d.err == nil; i++ {
		x.RLimits = append(x.RLimits, RLimitConf{Resource: d.i32(), Cur: d.u64(), Max: d.u64()})
	}
	x.Syscalls = d.str(16)
	n = d.count(MaxChildFiles, 1)
	for i := 0; i < n && d.err == nil; i++ {
		x.Files = append(x.Files, d.bool())
	}
	x.ExecFD = d.bool()
	x.Sync = d.bool()
	x.Queued = d.bool()
	x.ResetAfter = d.bool()
	if err := d.end(); err != nil {
		return Exec{}, err
	}
	if len(x.Args) == 0 || x.Args[0] == "" {
		return Exec{}, Errorf("exec: no program")
	}
	for _, l := range [][]string{x.Args, x.Env, {x.Dir, x.Hostname}} {
		for _, s := range l {
			for i := 0; i < len(s); i++ {
				if s[i] == 0 {
					return Exec{}, Errorf("exec: NUL byte in %q", s)
				}
			}
		}
	}
	if x.Dir == "" || x.Dir[0] != '/' {
		return Exec{}, Errorf("exec: dir %q is not absolute", x.Dir)
	}
	for _, r := range x.RLimits {
		if r.Resource < 0 || r.Resource >= 16 || r.Cur > r.Max {
			return Exec{}, Errorf("exec: bad rlimit %+v", r)
		}
	}
	switch x.Syscalls {
	case "", "errno", "kill":
	default:
		return Exec{}, Errorf("exec: unknown syscall mode %q", x.Syscalls)
	}
	return x, nil
}

// Proceed is the body of KindProceed.
type Proceed struct {
	OK      bool
	Message string // why not, when !OK
}

// MarshalProceed encodes p.
func MarshalProceed(p Proceed) []byte {
	var e encoder
	e.bool(p.OK)
	e.str(p.Message)
	return e.b
}

// UnmarshalProceed decodes a Proceed body.
func UnmarshalProceed(b []byte) (Proceed, error) {
	d := decoder{b: b, what: "proceed"}
	p := Proceed{OK: d.bool(), Message: d.str(MaxMessageText)}
	return p, d.end()
}

// ErrorReply is the body of KindError.
type ErrorReply struct {
	Errno   uint32 // 0 when the failure has none
	Message string
}

// MarshalError encodes r, its message cut to MaxMessageText.
func MarshalError(r ErrorReply) []byte {
	var e encoder
	e.u32(r.Errno)
	e.str(truncateText(r.Message))
	return e.b
}

// UnmarshalError decodes an ErrorReply body.
func UnmarshalError(b []byte) (ErrorReply, error) {
	d := decoder{b: b, what: "error reply"}
	r := ErrorReply{Errno: d.u32(), Message: d.str(MaxMessageText)}
	return r, d.end()
}

// Started is the body of KindStarted. The pid that matters travels as
// SCM_CREDENTIALS, translated by the kernel into the host's pid namespace;
// BoxPid is the same process as the box sees it.
type Started struct {
	BoxPid int32
}

// MarshalStarted encodes s.
func MarshalStarted(s Started) []byte {
	var e encoder
	e.i32(s.BoxPid)
	return e.b
}

// UnmarshalStarted decodes and validates a Started body.
func UnmarshalStarted(b []byte) (Started, error) {
	d := decoder{b: b, what: "started"}
	s := Started{BoxPid: d.i32()}
	if err := d.end(); err != nil {
		return Started{}, err
	}
	if s.BoxPid <= 1 {
		return Started{}, Errorf("started: box pid %d", s.BoxPid)
	}
	return s, nil
}

// ExecFailed is the body of KindExecFailed.
type ExecFailed struct {
	// ProgramFault: execve itself refused the program (missing, not
	// executable, bad format, argv too big): an exec-error, not the
	// sandbox's failure.
	ProgramFault bool
	Errno        uint32
	Message      string
}

// MarshalExecFailed encodes f, its message cut to MaxMessageText.
func MarshalExecFailed(f ExecFailed) []byte {
	var e encoder
	e.bool(f.ProgramFault)
	e.u32(f.Errno)
	e.str(truncateText(f.Message))
	return e.b
}

// UnmarshalExecFailed decodes an ExecFailed body.
func UnmarshalExecFailed(b []byte) (ExecFailed, error) {
	d := decoder{b: b, what: "exec-failed"}
	f := ExecFailed{ProgramFault: d.bool(), Errno: d.u32(), Message: d.str(MaxMessageText)}
	return f, d.end()
}

// Exited is the body of KindExited: how the program ended, from wait4.
type Exited struct {
	WaitStatus uint32
	UserNanos  int64
	SysNanos   int64
	MaxRSSKiB  int64
	// VoluntarySwitches and ForcedSwitches are ru_nvcsw and ru_nivcsw.
	VoluntarySwitches int64
	ForcedSwitches    int64
	// Others is how many other processes were still in the box and were
	// killed and reaped after the program ended.
	Others uint32
	// ScratchAtLimit: a file in /tmp (or /dev/shm, the same tmpfs), or in
	// /w when the exec said ResetAfter, reached the program's RLIMIT_FSIZE,
	// the output limit. The init looks before its tidy-up mounts /tmp
	// afresh and before it wipes /w, which the host's look would race.
	ScratchAtLimit bool
}

// MarshalExited encodes x.
func MarshalExited(x Exited) []byte {
	var e encoder
	e.u32(x.WaitStatus)
	e.i64(x.UserNanos)
	e.i64(x.SysNanos)
	e.i64(x.MaxRSSKiB)
	e.i64(x.VoluntarySwitches)
	e.i64(x.ForcedSwitches)
	e.u32(x.Others)
	e.bool(x.ScratchAtLimit)
	return e.b
}

// UnmarshalExited decodes and validates an Exited body.
func UnmarshalExited(b []byte) (Exited, error) {
	d := decoder{b: b, what: "exited"}
	x := Exited{WaitStatus: d.u32(), UserNanos: d.i64(), SysNanos: d.i64(), MaxRSSKiB: d.i64(),
		VoluntarySwitches: d.i64(), ForcedSwitches: d.i64(), Others: d.u32(), ScratchAtLimit: d.bool()}
	if err := d.end(); err != nil {
		return Exited{}, err
	}
	if x.UserNanos < 0 || x.SysNanos < 0 || x.MaxRSSKiB < 0 || x.VoluntarySwitches < 0 || x.ForcedSwitches < 0 {
		return Exited{}, Errorf("exited: negative figures %+v", x)
	}
	return x, nil
}

// EmptyBody checks the body of messages that have none.
func EmptyBody(k Kind, b []byte) error {
	if len(b) != 0 {
		return Errorf("%s: %d bytes of body, want none", k, len(b))
	}
	return nil
}

func truncateText(s string) string {
	if len(s) > MaxMessageText {
		return s[:MaxMessageText]
	}
	return s
}
