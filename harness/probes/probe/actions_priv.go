package main

// Privilege actions (C1-C3, F5): who the box runs as and with what.

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

func init() {
	refuseSetID()
	register("priv-ids", privIDs)
}

// refuseSetID stops a probe that runs set-user-ID or set-group-ID from doing
// anything but printing its ids: the suites install a set-user-ID-root copy
// of the probe to show that it does not elevate (C3, F5), and that copy must
// be harmless to anyone who finds it on the host.
func refuseSetID() {
	if unix.Geteuid() == unix.Getuid() && unix.Getegid() == unix.Getgid() {
		return
	}
	if len(os.Args) == 2 && os.Args[1] == "priv-ids" {
		return
	}
	fmt.Println("refused=a set-id probe only runs priv-ids")
	os.Exit(1)
}

// priv-ids: uid=R,E,S gid=R,E,S groups=LIST and the capability, no_new_privs
// and seccomp lines of /proc/self/status (CapEff=0000000000000000 ...).
func privIDs([]string) int {
	ruid, euid, suid := unix.Getresuid()
	rgid, egid, sgid := unix.Getresgid()
	fmt.Printf("uid=%d,%d,%d\ngid=%d,%d,%d\n", ruid, euid, suid, rgid, egid, sgid)
	groups, err := unix.Getgroups()
	if err != nil {
		fmt.Printf("groups=error %s\n", errText(err))
	} else {
		strs := make([]string, len(groups))
		for i, g := range groups {
			strs[i] = fmt.Sprint(g)
		}
		fmt.Printf("groups=%s\n", strings.Join(strs, ","))
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Printf("status=error %s\n", errText(err))
		return 1
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if strings.HasPrefix(k, "Cap") || k == "NoNewPrivs" || k == "Seccomp" {
			fmt.Printf("%s=%s\n", k, strings.TrimSpace(v))
		}
	}
	return 0
}
