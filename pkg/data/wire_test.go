package data

import (
	"slices"
	"strings"
	"testing"
)

func TestEncodeDecode(t *testing.T) {
	classes, err := Synthetic("blobs", 50, 3)
	if err != nil {
		t.Fatal(err)
	}
	classes.Shape = [2]int{1, classes.Features}
	curve, err := Synthetic("curve", 20, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*Dataset{classes, curve} {
		b, err := d.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", d.Name, err)
		}
		if !slices.Equal(got.X, d.X) || !slices.Equal(got.Labels, d.Labels) || !slices.Equal(got.Targets, d.Targets) ||
			got.Features != d.Features || got.Classes != d.Classes || got.Shape != d.Shape || got.Name != d.Name {
			t.Errorf("%s: round trip changed the dataset", d.Name)
		}
	}
	b, _ := classes.Encode()
	bad := strings.Replace(string(b), `"classes":"3"`, `"classes":"2"`, 1)
	if _, err := Decode([]byte(bad)); err == nil || !strings.Contains(err.Error(), "label") {
		t.Errorf("labels beyond classes: got %v", err)
	}
}
