package catalogue

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestDocIsCurrent fails when docs/conformance.md is not what the catalogue
// renders: the catalogue changed and the document was not regenerated.
func TestDocIsCurrent(t *testing.T) {
	const doc = "../docs/conformance.md"
	got, err := os.ReadFile(doc)
	if err != nil {
		t.Fatalf("%v (run make docs)", err)
	}
	if want := Markdown(); !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run make docs (go generate ./catalogue)", doc)
	}
}

func TestEntriesAreWellFormed(t *testing.T) {
	seen := map[string]bool{}
	lastArea := -1
	for i, p := range properties {
		if !LooksLikeID(p.ID) || seen[p.ID] {
			t.Errorf("property %d: ID %q malformed or repeated", i, p.ID)
		}
		seen[p.ID] = true
		area := -1
		for j, a := range areas {
			if a.Label == p.Area {
				area = j
			}
		}
		if area < 0 {
			t.Errorf("%s: area %q is not in Areas", p.ID, p.Area)
		} else if area < lastArea {
			t.Errorf("%s: area %q out of the areas' order", p.ID, p.Area)
		} else {
			lastArea = area
		}
		if i > 0 && properties[i-1].Area == p.Area && !Less(properties[i-1].ID, p.ID) {
			t.Errorf("%s comes after %s", p.ID, properties[i-1].ID)
		}
		if p.Title == "" || strings.TrimSpace(p.Title) != p.Title {
			t.Errorf("%s: title %q", p.ID, p.Title)
		}
	}
	for _, a := range areas {
		if !IsArea(a.Label) {
			t.Errorf("IsArea(%q) = false", a.Label)
		}
	}
	if IsArea("R1") || LooksLikeID("limits") || LooksLikeID("Serial") {
		t.Error("an area, an ID and an ordinary label are told apart")
	}
	if !Less("F2", "F10") || Less("F10", "F2") || !Less("B8", "C1") {
		t.Error("Less does not order by letter, then number")
	}
	if _, ok := Lookup("R5"); !ok {
		t.Error("Lookup(R5) failed")
	}
}
