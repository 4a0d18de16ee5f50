package data

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// maxCSVClasses bounds a class label read from CSV, so that a stray large
// number is reported rather than turned into a million-wide one-hot vector.
const maxCSVClasses = 1 << 16

// CSVOptions says how to read a CSV file. The zero value reads a
// classification set whose first column is the class index, with a header
// line detected automatically.
type CSVOptions struct {
	// Header says the first line is a header. When false, the first line is
	// taken as a header only if none of its fields is a number: one with a
	// number among its fields is data, so that a typo in the first row is
	// an error rather than a sample dropped.
	Header bool
	// LabelColumn is the 0-based column of the class label, or of the first
	// regression target. Negative counts from the end: -1 is the last column,
	// and with TargetColumns 2 it takes the last two columns.
	LabelColumn int
	// Regression reads real-valued targets into Targets instead of labels.
	Regression bool
	// TargetColumns is the number of regression targets (0 means 1).
	TargetColumns int
	// NoTargets reads every column as a feature, for prediction inputs;
	// LabelColumn, Regression and TargetColumns are then ignored.
	NoTargets bool
}

// LoadCSV reads a CSV file of numeric columns: a class label (a
// non-negative integer) or regression targets, and features. Classes is the
// largest label plus one. A row of the wrong width or a field that is not a
// finite number is an error naming the line and column (both 1-based).
func LoadCSV(path string, opt CSVOptions) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load csv: %w", err)
	}
	defer f.Close()
	d, err := decodeCSV(f, opt)
	if err != nil {
		return nil, fmt.Errorf("load csv %s: %w", path, err)
	}
	d.Name = filepath.Base(path)
	return d, nil
}

// csvLayout maps a row's columns to features and targets.
type csvLayout struct {
	width         int
	first, ntargs int // target columns [first, first+ntargs)
}

func newCSVLayout(width int, opt CSVOptions) (csvLayout, error) {
	l := csvLayout{width: width}
	if opt.NoTargets {
		return l, nil
	}
	l.ntargs = 1
	if opt.Regression && opt.TargetColumns > 0 {
		l.ntargs = opt.TargetColumns
	}
	l.first = opt.LabelColumn
	if l.first < 0 {
		l.first += width - l.ntargs + 1
	}
	if l.first < 0 || l.first+l.ntargs > width {
		return l, fmt.Errorf("label column %d with %d target columns does not fit in %d columns", opt.LabelColumn, l.ntargs, width)
	}
	if l.ntargs >= width {
		return l, fmt.Errorf("no feature columns: %d columns, %d of them targets", width, l.ntargs)
	}
	return l, nil
}

func (l csvLayout) isTarget(col int) bool { return col >= l.first && col < l.first+l.ntargs }

func decodeCSV(r io.Reader, opt CSVOptions) (*Dataset, error) {
	// A byte-order mark, as some spreadsheets write, is not data; dropped
	// before the CSV reader, which would take it for part of a field (and a
	// quote after it for a bare one).
	br := bufio.NewReader(r)
	if b, _ := br.Peek(3); string(b) == "\ufeff" {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // widths are checked here, to name the columns
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	d := &Dataset{}
	switch {
	case opt.NoTargets:
	case opt.Regression:
		d.Targets = []float32{}
	default:
		d.Labels = []int{}
	}
	var (
		l         csvLayout
		firstLine int
	)
	for row := 0; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if row == 0 {
			if l, err = newCSVLayout(len(rec), opt); err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			firstLine = line
			d.Features = l.width - l.ntargs
			// Without header: true a first line is a header only if no
			// field of it is a number: one with a typo among numbers is a
			// data row with an error, not a header that drops a sample.
			if opt.Header || noNumbers(rec) {
				continue
			}
		}
		if len(rec) != l.width {
			return nil, fmt.Errorf("line %d: %d fields, want %d as on line %d", line, len(rec), l.width, firstLine)
		}
		if err := d.appendCSVRow(rec, l, opt.Regression); err != nil {
			if row == 0 && !opt.Header {
				return nil, fmt.Errorf("line %d, %w; if line %d is a header, say so (dataset.header: true in a job spec, --header for predict)", line, err, line)
			}
			return nil, fmt.Errorf("line %d, %w", line, err)
		}
	}
	if d.Len() == 0 {
		return nil, errors.New("no data rows")
	}
	return d, nil
}

// appendCSVRow parses one record into d.
func (d *Dataset) appendCSVRow(rec []string, l csvLayout, regression bool) error {
	for col, field := range rec {
		// Parsed in float64, so that a label such as 1.00000001 is not
		// rounded into a class index, and finite in float32.
		v, err := strconv.ParseFloat(strings.TrimSpace(field), 64)
		if f := float64(float32(v)); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("column %d: %q is not a finite number", col+1, field)
		}
		switch {
		case !l.isTarget(col):
			d.X = append(d.X, float32(v))
		case regression:
			d.Targets = append(d.Targets, float32(v))
		default:
			if v < 0 || v >= maxCSVClasses || v != math.Trunc(v) {
				return fmt.Errorf("column %d: label %q is not a class index (an integer in [0, %d))", col+1, field, maxCSVClasses)
			}
			d.Labels = append(d.Labels, int(v))
			d.Classes = max(d.Classes, int(v)+1)
		}
	}
	return nil
}

// noNumbers reports whether no field parses as a number.
func noNumbers(rec []string) bool {
	for _, f := range rec {
		if _, err := strconv.ParseFloat(strings.TrimSpace(f), 64); err == nil {
			return false
		}
	}
	return true
}
