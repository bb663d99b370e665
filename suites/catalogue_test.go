package suites

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"

	"gosandbox/catalogue"
)

// property labels a spec with a catalogue property: its ID and its area, both
// taken from the catalogue (package catalogue, docs/conformance.md). An ID the
// catalogue does not have stops the suite while Ginkgo builds the spec tree,
// so a dry run (ginkgo --dry-run) finds it.
func property(id string) Labels {
	p, ok := catalogue.Lookup(id)
	if !ok {
		panic(fmt.Sprintf("conformance: property %q is not in the catalogue (catalogue/catalogue.go)", id))
	}
	return Label(p.ID, p.Area)
}

// area labels a group of specs with a catalogue area.
func area(label string) Labels {
	if !catalogue.IsArea(label) {
		panic(fmt.Sprintf("conformance: area %q is not in the catalogue (catalogue/catalogue.go)", label))
	}
	return Label(label)
}
