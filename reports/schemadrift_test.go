//go:build schemadrift

package reports

import (
	"reflect"
	"testing"

	"gosandbox/bench"
)

// TestSchemaDrift checks that the report's copy of the bench.json layout has
// every field bench.Report has, with the same JSON name and kind. It is behind
// a build tag because package bench may be mid-edit while reports is not:
//
//	go test -tags schemadrift -run SchemaDrift ./reports/
func TestSchemaDrift(t *testing.T) {
	if bench.SchemaVersion != benchSchemaVersion {
		t.Errorf("bench writes %q, reports reads %q", bench.SchemaVersion, benchSchemaVersion)
	}
	compareJSON(t, "Report", reflect.TypeOf(bench.Report{}), reflect.TypeOf(BenchReport{}))
}

func compareJSON(t *testing.T, path string, want, got reflect.Type) {
	t.Helper()
	for want.Kind() == reflect.Slice || want.Kind() == reflect.Array || want.Kind() == reflect.Pointer {
		if got.Kind() != want.Kind() {
			t.Errorf("%s: bench has %s, reports has %s", path, want, got)
			return
		}
		want, got = want.Elem(), got.Elem()
	}
	if want.Kind() != reflect.Struct || want.PkgPath() == "time" {
		if want.Kind() != got.Kind() {
			t.Errorf("%s: bench has %s, reports has %s", path, want, got)
		}
		return
	}
	fields := map[string]reflect.StructField{}
	for i := 0; i < got.NumField(); i++ {
		fields[got.Field(i).Tag.Get("json")] = got.Field(i)
	}
	for i := 0; i < want.NumField(); i++ {
		wf := want.Field(i)
		gf, ok := fields[wf.Tag.Get("json")]
		if !ok {
			t.Errorf("%s.%s (json %q) is missing from the report's copy", path, wf.Name, wf.Tag.Get("json"))
			continue
		}
		compareJSON(t, path+"."+wf.Name, wf.Type, gf.Type)
	}
}
