package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ringtrain/ringtrain/pkg/checkpoint"
	"github.com/ringtrain/ringtrain/pkg/nn"
	"github.com/ringtrain/ringtrain/pkg/train"
)

// execRoot runs the coordinator CLI with args and returns its output.
func execRoot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func writeLocalSpec(t *testing.T, dir, body string) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "job-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(body + "\noutput: {dir: " + filepath.Join(dir, "out") + "}\n"); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

const xorSpec = `
name: xor
dataset: {name: xor, samples: 200}
model: {layers: [{units: 8, activation: tanh}, {units: 2, activation: softmax}]}
training: {optimizer: {kind: momentum, learning_rate: 0.1}, batch_size: 16, epochs: 30, seed: 7, target_accuracy: 0.99}`

func TestRunEvalPredict(t *testing.T) {
	for _, tc := range []struct{ workers, precision string }{{"0", "float32"}, {"2", "float32"}, {"0", "float64"}, {"2", "float64"}} {
		t.Run("workers="+tc.workers+"/"+tc.precision, func(t *testing.T) {
			dir := t.TempDir()
			spec := writeLocalSpec(t, dir, strings.Replace(xorSpec, "seed: 7", "seed: 7, precision: "+tc.precision, 1))
			out, err := execRoot(t, "run", "-f", spec, "--workers", tc.workers)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out)
			}
			for _, want := range []string{"epoch 30/30", "completed after 30 epochs", "saved model: epoch", "model saved to"} {
				if !strings.Contains(out, want) {
					t.Errorf("run output lacks %q:\n%s", want, out)
				}
			}
			// Both keep the learning curve beside the model.
			if h, err := train.ReadHistory(filepath.Join(dir, "out", "history.csv")); err != nil || len(h.Epochs) != 30 || h.Task != train.TaskClassification {
				t.Errorf("history.csv: %v, %+v", err, h)
			}
			model := filepath.Join(dir, "out", "model.safetensors")
			if got, err := checkpoint.FilePrecision(model); got != tc.precision || err != nil {
				t.Errorf("model saved as %q (%v), want %s", got, err, tc.precision)
			}
			out, err = execRoot(t, "eval", "-m", model, "-f", spec, "-o", "json")
			if err != nil {
				t.Fatalf("eval: %v\n%s", err, out)
			}
			var ev struct {
				Split  string
				Result struct{ Accuracy float64 }
			}
			if err := json.Unmarshal([]byte(out), &ev); err != nil || ev.Split != "test" || ev.Result.Accuracy < 0.99 {
				t.Errorf("eval json %q: %+v %v", out, ev, err)
			}
			out, err = execRoot(t, "eval", "-m", model, "-f", spec)
			if err != nil || !strings.Contains(out, "accuracy 100.00%") || !strings.Contains(out, "confusion matrix") {
				t.Errorf("eval text: %v\n%s", err, out)
			}
			csv := filepath.Join(dir, "in.csv")
			if err := os.WriteFile(csv, []byte("0,0\n0,1\n1,0\n1,1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err = execRoot(t, "predict", "-m", model, "-i", csv)
			if err != nil {
				t.Fatalf("predict: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			classes := []string{}
			for _, l := range lines[1:] {
				classes = append(classes, strings.Split(l, ",")[1])
			}
			if lines[0] != "index,class,name,probability" || strings.Join(classes, "") != "0110" {
				t.Errorf("predict output %q: want classes 0110 (XOR)", out)
			}
		})
	}
}

func TestRunRejects(t *testing.T) {
	dir := t.TempDir()
	// A model that loads, so that eval gets as far as the --split check.
	model := filepath.Join(dir, "model.safetensors")
	if err := os.WriteFile(model, testModel(t), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad spec", []string{"run", "-f", writeLocalSpec(t, dir, strings.Replace(xorSpec, "epochs: 30", "epochs: -3", 1))}, "training.epochs"},
		{"missing spec", []string{"run", "-f", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		{"negative workers", []string{"run", "-f", writeLocalSpec(t, dir, xorSpec), "--workers", "-1"}, "--workers"},
		{"missing model", []string{"eval", "-m", filepath.Join(dir, "none.safetensors"), "-f", writeLocalSpec(t, dir, xorSpec)}, "none.safetensors"},
		{"no val split", []string{"eval", "-m", model, "-f", writeLocalSpec(t, dir, xorSpec), "--split", "val"}, `--split: job xor has no "val" set`},
		{"targets of classes", []string{"run", "-f", writeLocalSpec(t, dir, strings.Replace(xorSpec, "samples: 200}", "samples: 200, normalize_targets: true}", 1))},
			"dataset.normalize_targets: data: xor has classes, not targets to scale"},
	}
	for _, tc := range tests {
		if tc.want == "" {
			t.Fatalf("%s: want names nothing, so any error would pass", tc.name)
		}
		out, err := execRoot(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v (output %q), want an error naming %q", tc.name, err, out, tc.want)
		}
	}
}

// TestPredictOutput checks that predict -o replaces FILE whole, and leaves
// it as it was when the inputs or the model are wrong.
func TestPredictOutput(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.safetensors")
	if err := os.WriteFile(model, testModel(t), 0o644); err != nil {
		t.Fatal(err)
	}
	inputs := map[string]string{"good.csv": "0,0\n1,1\n", "wide.csv": "0,0,1\n1,1,0\n"}
	for name, body := range inputs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := "index,class,name,probability\n0,1,1,0.9000\n"
	tests := []struct {
		model, input string
		want         string // the error contains it; "" for success
	}{
		{model, "good.csv", ""},
		{model, "wide.csv", "wide.csv has 3 features per input; model " + model + " takes 2"},
		{filepath.Join(dir, "none.safetensors"), "good.csv", "none.safetensors"},
	}
	for i, tc := range tests {
		outDir := t.TempDir()
		output := filepath.Join(outDir, "predictions.csv")
		if err := os.WriteFile(output, []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := execRoot(t, "predict", "-m", tc.model, "-i", filepath.Join(dir, tc.input), "-o", output)
		got, _ := os.ReadFile(output)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("test %d: %v\n%s", i, err, out)
		case tc.want == "" && (!strings.HasPrefix(string(got), "index,class,name,probability\n0,") || strings.Count(string(got), "\n") != 3):
			t.Errorf("test %d: file holds %q, want a header and 2 predictions", i, got)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("test %d: got error %v want one naming %q", i, err, tc.want)
		case tc.want != "" && string(got) != old:
			t.Errorf("test %d: a failed predict changed the file to %q", i, got)
		}
		if entries, _ := os.ReadDir(outDir); len(entries) != 1 {
			t.Errorf("test %d: directory holds %d entries, want only the predictions (no temp files)", i, len(entries))
		}
	}
}

const curveSpec = `
name: curve
dataset: {name: curve, samples: 400, validation: 0.2}
model: {layers: [{units: 16, activation: tanh}, {units: 1, activation: identity}]}
training: {optimizer: {kind: momentum, learning_rate: 0.05}, batch_size: 16, epochs: 8, seed: 3}`

// TestRunEvalRegression: a regression job's epoch lines and eval report
// RMSE, MAE and R², and eval says what its loss is.
func TestRunEvalRegression(t *testing.T) {
	dir := t.TempDir()
	spec := writeLocalSpec(t, dir, curveSpec)
	out, err := execRoot(t, "run", "-f", spec, "--workers", "0")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "val rmse ") || !strings.Contains(out, " r² ") {
		t.Errorf("run's epoch lines lack regression scores:\n%s", out)
	}
	model := filepath.Join(dir, "out", "model.safetensors")
	out, err = execRoot(t, "eval", "-m", model, "-f", spec, "-o", "json")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	var ev struct {
		Result   struct{ Loss, RMSE, MAE, R2 float64 }
		PerClass []classScore `json:"per_class"`
	}
	if err := json.Unmarshal([]byte(out), &ev); err != nil {
		t.Fatalf("eval json %q: %v", out, err)
	}
	r := ev.Result
	// For one output, the loss is half the mean squared error.
	if r.R2 < 0.5 || r.R2 > 1 || r.MAE <= 0 || r.MAE > r.RMSE || math.Abs(r.Loss-r.RMSE*r.RMSE/2) > 1e-6 || ev.PerClass != nil {
		t.Errorf("eval json: %+v", ev)
	}
	out, err = execRoot(t, "eval", "-m", model, "-f", spec)
	if err != nil || !strings.Contains(out, "rmse") || !strings.Contains(out, "½·Σ(ŷ−y)²") {
		t.Errorf("eval text: %v\n%s", err, out)
	}
}

func TestPerClass(t *testing.T) {
	// 3 of class a (2 found), 2 of class b (both found, with one a).
	got := perClass([][]int{{2, 1}, {0, 2}}, []string{"a", "b"})
	want := []classScore{
		{Class: "a", Precision: 1, Recall: 2.0 / 3, F1: 0.8, Support: 3},
		{Class: "b", Precision: 2.0 / 3, Recall: 1, F1: 0.8, Support: 2},
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Class != w.Class || g.Support != w.Support || math.Abs(g.Precision-w.Precision) > 1e-12 || math.Abs(g.Recall-w.Recall) > 1e-12 || math.Abs(g.F1-w.F1) > 1e-12 {
			t.Errorf("class %d: got %+v want %+v", i, g, w)
		}
	}
	// A class never predicted and never present scores 0, not NaN.
	if sc := perClass([][]int{{1, 0}, {0, 0}}, nil)[1]; sc.Class != "1" || sc.Precision != 0 || sc.Recall != 0 || sc.F1 != 0 {
		t.Errorf("empty class: %+v", sc)
	}
}

// TestPlot draws two runs' histories, and refuses what it cannot draw.
func TestPlot(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a", "b"} {
		h := &train.History{Name: name, Task: train.TaskRegression, Epochs: []train.HistoryRow{
			{Epoch: 1, TrainLoss: 1, Val: &train.SetScores{Loss: 1, RMSE: 1.4}, Attempts: 1},
			{Epoch: 2, TrainLoss: 0.5, Val: &train.SetScores{Loss: 0.6, RMSE: 1.1}, Attempts: 1},
		}}
		if err := h.Save(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "curves.png")
	if got, err := execRoot(t, "plot", filepath.Join(dir, "a"), filepath.Join(dir, "b", "history.csv"), "-o", out); err != nil {
		t.Fatalf("plot: %v\n%s", err, got)
	}
	if b, err := os.ReadFile(out); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("%s is not a PNG (%v)", out, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"plot", filepath.Join(dir, "a"), "-o", filepath.Join(dir, "c.gif")}, "want a .png or .svg file"},
		{[]string{"plot", filepath.Join(dir, "missing"), "-o", out}, "missing"},
		{[]string{"plot", filepath.Join(dir, "a"), "-o", out, "--width=-3"}, "--width -3: want inches in (0, 100]"},
		{[]string{"plot", filepath.Join(dir, "a"), "-o", out, "--height=NaN"}, "--height NaN"},
	} {
		_, err := execRoot(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

// TestNormalizeTravelsWithTheModel: a regression on raw, unscaled CSV
// features trains with dataset.normalize; eval and predict, given the raw
// files, score and predict as training did.
func TestNormalizeTravelsWithTheModel(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	write := func(name string, n int) string {
		var b strings.Builder
		b.WriteString("size,ratio,y\n")
		for range n {
			x1, x2 := 1000*r.Float64(), r.Float64()
			fmt.Fprintf(&b, "%g,%g,%g\n", x1, x2, 1000*(0.002*x1+3*x2-2)) // targets in thousands
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	trainCSV, testCSV := write("train.csv", 400), write("test.csv", 100)
	// minmax on a 2-worker ring: the coordinator scales what it sends.
	// Targets in thousands: standardised by normalize_targets, which the
	// scores and predictions undo.
	for kind, workers := range map[string]string{"standard": "0", "minmax": "2"} {
		spec := writeLocalSpec(t, dir, fmt.Sprintf(`
name: raw-%s
dataset: {name: csv, train: {csv: %s}, test: {csv: %s}, header: true, label_column: -1, regression: true, normalize: %s, normalize_targets: true}
model: {layers: [{units: 16, activation: tanh}, {units: 1, activation: identity}]}
training: {optimizer: {kind: adam, learning_rate: 0.01}, batch_size: 16, epochs: 20, seed: 1}`, kind, trainCSV, testCSV, kind))
		if out, err := execRoot(t, "run", "-f", spec, "--workers", workers); err != nil {
			t.Fatalf("%s: run: %v\n%s", kind, err, out)
		}
		out := filepath.Join(dir, "out")
		h, err := train.ReadHistory(out)
		if err != nil {
			t.Fatal(err)
		}
		last := h.Epochs[len(h.Epochs)-1].Test
		model := filepath.Join(out, "model.safetensors")
		js, err := execRoot(t, "eval", "-m", model, "-f", spec, "-o", "json")
		if err != nil {
			t.Fatalf("%s: eval: %v\n%s", kind, err, js)
		}
		var ev struct{ Result struct{ RMSE, R2 float64 } }
		if err := json.Unmarshal([]byte(js), &ev); err != nil {
			t.Fatal(err)
		}
		// The saved model is the last epoch's (no validation split).
		// RMSE in the targets' units (thousands): a standardised one would
		// be below 1.
		if math.Abs(ev.Result.RMSE-last.RMSE) > 1e-6*max(1, last.RMSE) || last.R2 < 0.9 || last.RMSE < 5 {
			t.Errorf("%s: eval of the raw test set: RMSE %v, training reported %v (R² %v)", kind, ev.Result.RMSE, last.RMSE, last.R2)
		}
		// predict on the raw features: the same errors.
		var feats strings.Builder
		rows := strings.Split(strings.TrimSpace(readFile(t, testCSV)), "\n")[1:]
		var want []float64
		for _, row := range rows {
			f := strings.Split(row, ",")
			feats.WriteString(f[0] + "," + f[1] + "\n")
			y, _ := strconv.ParseFloat(f[2], 64)
			want = append(want, y)
		}
		in := filepath.Join(dir, "in.csv")
		if err := os.WriteFile(in, []byte(feats.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		pred, err := execRoot(t, "predict", "-m", model, "-i", in)
		if err != nil {
			t.Fatalf("%s: predict: %v\n%s", kind, err, pred)
		}
		sq := 0.0
		for i, row := range strings.Split(strings.TrimSpace(pred), "\n")[1:] {
			y, _ := strconv.ParseFloat(strings.Split(row, ",")[1], 64)
			sq += (y - want[i]) * (y - want[i])
		}
		if rmse := math.Sqrt(sq / float64(len(want))); math.Abs(rmse-last.RMSE) > 1e-4*max(1, last.RMSE) {
			t.Errorf("%s: predict's RMSE on raw inputs %v, training reported %v", kind, rmse, last.RMSE)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPredictOneSigmoid: a binary classifier with one sigmoid output
// predicts class 1 where its output is at least 0.5, as eval scores it,
// with the probability of the class it predicts.
func TestPredictOneSigmoid(t *testing.T) {
	dir := t.TempDir()
	arch := nn.Architecture{Inputs: 1, Layers: []nn.Layer{{Units: 1, Activation: nn.Sigmoid}}, Cost: nn.CrossEntropy}
	// σ(10x − 5): 0.0067 at x = 0, 0.9933 at x = 1.
	m := &checkpoint.Model[float32]{Arch: arch, Params: []float32{10, -5}, Labels: []string{"no", "yes"}}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	model, input := filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "in.csv")
	if err := os.WriteFile(model, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(input, []byte("0\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := execRoot(t, "predict", "-m", model, "-i", input)
	if err != nil {
		t.Fatalf("predict: %v\n%s", err, out)
	}
	if want := "index,class,name,probability\n0,0,no,0.9933\n1,1,yes,0.9933\n"; out != want {
		t.Errorf("predict printed\n%s\nwant\n%s", out, want)
	}
}
