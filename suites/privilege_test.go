package suites

import (
	"os"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"gosandbox/sandbox"
)

// capabilitySets are the capability lines of /proc/self/status.
var capabilitySets = []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}

const noCapabilities = "0000000000000000"

var _ = Describe("Privilege", area("privilege"), func() {
	It("C1: every capability set is empty", property("C1"), func() {
		o := runProbe("priv-ids")
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		f := probeFacts(o.Stdout)
		for _, set := range capabilitySets {
			Expect(f).To(HaveKeyWithValue(set, noCapabilities), "%s is not empty", set)
		}
	})

	It("C2: the program runs as a non-root uid and gid with no supplementary groups", property("C2"), func() {
		o := runProbe("priv-ids")
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		f := probeFacts(o.Stdout)
		uids, gids := strings.Split(f["uid"], ","), strings.Split(f["gid"], ",")
		Expect(uids).To(HaveLen(3), describeOutcome(o))
		Expect(gids).To(HaveLen(3), describeOutcome(o))
		for _, u := range uids {
			Expect(u).NotTo(Equal("0"), "real, effective or saved uid is root: %v", uids)
			Expect(u).To(Equal(uids[0]), "real, effective and saved uid differ: %v", uids)
		}
		for _, g := range gids {
			Expect(g).NotTo(Equal("0"), "real, effective or saved gid is root: %v", gids)
			Expect(g).To(Equal(gids[0]), "real, effective and saved gid differ: %v", gids)
		}
		Expect(f).To(HaveKey("groups"))
		if f["groups"] != "" {
			Expect(f["groups"]).To(Equal(gids[0]), "supplementary groups %s", f["groups"])
		}
	})

	It("C3: a set-user-ID-root program runs without elevation or capabilities", property("C3"), func() {
		if os.Geteuid() != 0 {
			Skip("the suite needs root to make a set-user-ID-root probe")
		}
		spec := probeSpec("priv-ids")
		spec.Args[0] = probeSetuidMount
		o := run(spec)
		Expect(o.Status).To(Equal(sandbox.StatusOK), describeOutcome(o))
		f := probeFacts(o.Stdout)
		uids := strings.Split(f["uid"], ",")
		Expect(uids).To(HaveLen(3), describeOutcome(o))
		for _, u := range uids {
			Expect(u).NotTo(Equal("0"), "set-user-ID root took effect: uids %v", uids)
		}
		for _, set := range []string{"CapPrm", "CapEff"} {
			Expect(f).To(HaveKeyWithValue(set, noCapabilities), "%s after exec of a set-user-ID-root program", set)
		}
	})
})
