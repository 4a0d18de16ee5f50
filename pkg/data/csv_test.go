package data

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadCSV(t *testing.T) {
	tests := []struct {
		name        string
		csv         string
		opt         CSVOptions
		wantX       []float32
		wantLabels  []int
		wantTargets []float32
		wantClasses int
	}{
		{"label first, header detected", "label,a,b\n1,0.5,2\n0,-1,3e2\n", CSVOptions{},
			[]float32{0.5, 2, -1, 300}, []int{1, 0}, nil, 2},
		{"no header", "2,1,1\n0,4,4\n", CSVOptions{},
			[]float32{1, 1, 4, 4}, []int{2, 0}, nil, 3},
		{"numeric header forced", "9,9,9\n1,5,6\n", CSVOptions{Header: true},
			[]float32{5, 6}, []int{1}, nil, 2},
		{"header with a numeric name, said", "label,2024\n1,3\n", CSVOptions{Header: true},
			[]float32{3}, []int{1}, nil, 2},
		{"label last, spaces and CRLF", "a, b, y\r\n 1, 2, 1\r\n3 ,4 ,0\r\n", CSVOptions{LabelColumn: -1},
			[]float32{1, 2, 3, 4}, []int{1, 0}, nil, 2},
		{"label in the middle, integral float", "1,3.0,2\n", CSVOptions{LabelColumn: 1},
			[]float32{1, 2}, []int{3}, nil, 4},
		{"quoted fields", "\"x\",\"y\"\n\"0.25\",\"1\"\n", CSVOptions{LabelColumn: -1},
			[]float32{0.25}, []int{1}, nil, 2},
		{"regression, one target first", "y,x\n0.5,1\n-2,3\n", CSVOptions{Regression: true},
			[]float32{1, 3}, nil, []float32{0.5, -2}, 0},
		{"regression, last two targets", "1,2,10,20\n3,4,30,40\n", CSVOptions{Regression: true, LabelColumn: -1, TargetColumns: 2},
			[]float32{1, 2, 3, 4}, nil, []float32{10, 20, 30, 40}, 0},
		{"regression, targets in the middle", "1,10,20,2\n", CSVOptions{Regression: true, LabelColumn: 1, TargetColumns: 2},
			[]float32{1, 2}, nil, []float32{10, 20}, 0},
		{"unlabeled", "a,b\n1,2\n3,4\n", CSVOptions{NoTargets: true},
			[]float32{1, 2, 3, 4}, nil, nil, 0},
		{"blank lines skipped", "\n1,1\n\n0,2\n", CSVOptions{},
			[]float32{1, 2}, []int{1, 0}, nil, 2},
		{"byte-order mark, no header", "\ufeff1,1\n0,2\n", CSVOptions{},
			[]float32{1, 2}, []int{1, 0}, nil, 2},
		{"byte-order mark and header", "\ufeffy,x\n1,1\n", CSVOptions{},
			[]float32{1}, []int{1}, nil, 2},
		{"byte-order mark before a quoted header", "\ufeff\"y\",\"x\"\n1,1\n", CSVOptions{},
			[]float32{1}, []int{1}, nil, 2},
	}
	for _, tc := range tests {
		d, err := LoadCSV(writeFile(t, t.TempDir(), "in.csv", []byte(tc.csv)), tc.opt)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !equal(d.X, tc.wantX) || !equal(d.Labels, tc.wantLabels) || !equal(d.Targets, tc.wantTargets) || d.Classes != tc.wantClasses {
			t.Errorf("%s: got X %v labels %v targets %v classes %d\nwant X %v labels %v targets %v classes %d",
				tc.name, d.X, d.Labels, d.Targets, d.Classes, tc.wantX, tc.wantLabels, tc.wantTargets, tc.wantClasses)
		}
		if wantF := len(tc.wantX) / d.Len(); d.Features != wantF {
			t.Errorf("%s: Features %d want %d", tc.name, d.Features, wantF)
		}
		if (tc.wantLabels == nil) != (d.Labels == nil) || (tc.wantTargets == nil) != (d.Targets == nil) {
			t.Errorf("%s: Labels nil = %v, Targets nil = %v", tc.name, d.Labels == nil, d.Targets == nil)
		}
		if d.Name != "in.csv" {
			t.Errorf("%s: Name %q", tc.name, d.Name)
		}
	}
}

func TestLoadCSVErrors(t *testing.T) {
	tests := []struct {
		name    string
		csv     string
		opt     CSVOptions
		wantErr string // after "load csv <path>: "
	}{
		{"short row", "y,a,b\n1,2,3\n0,2\n", CSVOptions{}, "line 3: 2 fields, want 3 as on line 1"},
		{"long row", "1,2\n0,2,5\n", CSVOptions{}, "line 2: 3 fields, want 2 as on line 1"},
		{"non-number", "y,a,b\n1,2,3\n0,2,abc\n", CSVOptions{}, `line 3, column 3: "abc" is not a finite number`},
		{"non-number in the first data row", "y,a\n1,x\n", CSVOptions{}, `line 2, column 2: "x" is not a finite number`},
		{"empty field", "1,2\n0,\n", CSVOptions{}, `line 2, column 2: "" is not a finite number`},
		{"NaN", "1,2\n0,NaN\n", CSVOptions{}, `line 2, column 2: "NaN" is not a finite number`},
		{"Inf", "1,2\n0,-Inf\n", CSVOptions{}, `line 2, column 2: "-Inf" is not a finite number`},
		{"float32 overflow", "1,2\n0,1e39\n", CSVOptions{}, `line 2, column 2: "1e39" is not a finite number`},
		{"fractional label", "1.5,2\n", CSVOptions{}, `line 1, column 1: label "1.5" is not a class index (an integer in [0, 65536))`},
		{"label near an integer", "1.00000001,2\n", CSVOptions{}, `line 1, column 1: label "1.00000001" is not a class index`},
		// A first line with a typo among its numbers is data with an error,
		// not a header that silently drops the sample.
		{"typo in the first line", "1,O.2\n0,3\n", CSVOptions{}, `line 1, column 2: "O.2" is not a finite number; if line 1 is a header, say so`},
		{"header with a numeric name, unsaid", "label,2024\n1,3\n", CSVOptions{}, `line 1, column 1: "label" is not a finite number; if line 1 is a header, say so`},
		{"negative label", "1,2\n-1,2\n", CSVOptions{}, `line 2, column 1: label "-1" is not a class index`},
		{"huge label", "70000,2\n", CSVOptions{}, `line 1, column 1: label "70000" is not a class index`},
		{"label column past the end", "1,2\n", CSVOptions{LabelColumn: 2}, "line 1: label column 2 with 1 target columns does not fit in 2 columns"},
		{"label column before the start", "1,2\n", CSVOptions{LabelColumn: -3}, "line 1: label column -3 with 1 target columns does not fit in 2 columns"},
		{"targets past the end", "1,2,3\n", CSVOptions{Regression: true, LabelColumn: 2, TargetColumns: 2}, "line 1: label column 2 with 2 target columns does not fit in 3 columns"},
		{"no features", "1\n2\n", CSVOptions{}, "line 1: no feature columns: 1 columns, 1 of them targets"},
		{"header only", "a,b\n", CSVOptions{}, "no data rows"},
		{"empty file", "", CSVOptions{}, "no data rows"},
		{"bare quote", "1,2\n0,a\"b\n", CSVOptions{}, `parse error on line 2, column 4: bare " in non-quoted-field`},
	}
	for _, tc := range tests {
		path := writeFile(t, t.TempDir(), "bad.csv", []byte(tc.csv))
		_, err := LoadCSV(path, tc.opt)
		if want := "load csv " + path + ": " + tc.wantErr; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v\nwant %s", tc.name, err, want)
		}
	}
	if _, err := LoadCSV(filepath.Join(t.TempDir(), "none.csv"), CSVOptions{}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: got %v", err)
	}
}
