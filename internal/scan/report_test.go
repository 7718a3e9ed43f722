package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// fixtureDir writes a small tree with known findings and makes it the
// working directory, so that reports name relative paths.
func fixtureDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "app", "prod.env"), []byte("# production\n"+awsLine))
	writeFile(t, filepath.Join(dir, "data", "customers.csv"), []byte("name,身份证号\nZhang Wei,"+cnResidentID()+"\n"))
	writeFile(t, filepath.Join(dir, "README.md"), []byte("# nothing to see\n"))
	writeFile(t, filepath.Join(dir, "bundle.zip"), zipOf(t, entry{"inner/deploy.env", []byte("x=1\n" + awsLine)}))
	t.Chdir(dir)
	return dir
}

// runMain runs Main and returns its exit code, stdout and stderr.
func runMain(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestJSONReportGolden(t *testing.T) {
	golden := filepath.Join(testdata(t), "report_golden.json")
	fixtureDir(t)
	code, out, stderr := runMain(t, "", "--format", "json", ".")
	if code != ExitFindings {
		t.Fatalf("exit %d, want %d; stderr %s", code, ExitFindings, stderr)
	}
	// The same input gives the same bytes.
	_, again, _ := runMain(t, "", "--format", "json", ".")
	if again != out {
		t.Fatal("two scans of the same input gave different JSON")
	}
	if strings.Contains(out, testAWSKey) || strings.Contains(out, cnResidentID()) {
		t.Fatal("JSON report shows a full secret without --show-secrets")
	}
	if *update {
		writeFile(t, golden, []byte(out))
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestJSONReportGolden -update)", err)
	}
	if string(want) != out {
		t.Errorf("JSON report differs from %s (run with -update if intended):\n%s", golden, out)
	}
}

// testdata is the package's testdata directory as an absolute path (call
// it before fixtureDir changes the working directory).
func testdata(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestSARIFValidates(t *testing.T) {
	schemaFile := filepath.Join(testdata(t), "sarif-schema-2.1.0.json")
	fixtureDir(t)
	code, out, stderr := runMain(t, "", "--format", "sarif", ".")
	if code != ExitFindings {
		t.Fatalf("exit %d; stderr %s", code, stderr)
	}

	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile(schemaFile)
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Fatalf("SARIF does not validate: %v\n%s", err, out)
	}

	// What GitHub code scanning needs beyond the schema.
	var log sarifLog
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if len(run.Results) < 3 || len(run.Tool.Driver.Rules) < 2 {
		t.Fatalf("%d results, %d rules", len(run.Results), len(run.Tool.Driver.Rules))
	}
	for _, r := range run.Results {
		if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %s points at rule %d", r.RuleID, r.RuleIndex)
		}
		pl := r.Locations[0].PhysicalLocation
		if pl.ArtifactLocation.URI == "" || strings.HasPrefix(pl.ArtifactLocation.URI, "/") {
			t.Errorf("uri %q", pl.ArtifactLocation.URI)
		}
		if pl.Region == nil || pl.Region.StartLine < 1 {
			t.Errorf("%s: no region", pl.ArtifactLocation.URI)
		}
		if r.PartialFingerprints["cofferFingerprint/v1"] == "" {
			t.Errorf("no fingerprint")
		}
		if strings.Contains(r.Message.Text, testAWSKey) {
			t.Errorf("secret in SARIF message")
		}
	}

	// A report with no findings validates too.
	empty := t.TempDir()
	_, out, _ = runMain(t, "", "--format", "sarif", empty)
	doc, _ = jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err := sch.Validate(doc); err != nil {
		t.Fatalf("empty SARIF does not validate: %v", err)
	}
}

func TestBaseline(t *testing.T) {
	dir := fixtureDir(t)
	base := filepath.Join(t.TempDir(), "baseline.json")
	if code, _, stderr := runMain(t, "", "--format", "json", "--output", base, "."); code != ExitFindings {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	tests := []struct {
		name  string
		setup func()
		code  int
		want  int // findings reported
	}{
		{"nothing new", func() {}, ExitClean, 0},
		{"one new secret", func() {
			writeFile(t, filepath.Join(dir, "app", "new.env"), []byte("k = "+testAWSKey+"\n"))
		}, ExitFindings, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			code, out, stderr := runMain(t, "", "--format", "json", "--baseline", base, ".")
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, stderr)
			}
			var rep jsonReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatal(err)
			}
			if len(rep.Findings) != tt.want {
				t.Fatalf("%d findings, want %d: %s", len(rep.Findings), tt.want, out)
			}
			if tt.want == 1 && rep.Findings[0].Location.Path != filepath.Join("app", "new.env") {
				t.Errorf("new finding at %s", rep.Findings[0].Location.Path)
			}
		})
	}
	t.Run("bad baseline", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.json")
		writeFile(t, bad, []byte("not json"))
		if code, _, _ := runMain(t, "", "--baseline", bad, "."); code != ExitError {
			t.Fatalf("exit %d, want %d", code, ExitError)
		}
	})
}

func TestTextReport(t *testing.T) {
	fixtureDir(t)
	tests := []struct {
		name   string
		args   []string
		secret bool
	}{
		{"masked", nil, false},
		{"shown", []string{"--show-secrets"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, out, _ := runMain(t, "", append(tt.args, ".")...)
			for _, want := range []string{filepath.Join("app", "prod.env"), "bundle.zip!inner/deploy.env", "findings in 4 files scanned", "by confidence"} {
				if !strings.Contains(out, want) {
					t.Errorf("text report lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, testAWSKey) != tt.secret {
				t.Errorf("secret shown = %v, want %v:\n%s", !tt.secret, tt.secret, out)
			}
		})
	}
}
