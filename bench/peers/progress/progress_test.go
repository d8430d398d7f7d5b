package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

func TestParseMarks(t *testing.T) {
	got, err := ParseMarks("300, 1,300,20,")
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 20 || got[2] != 300 {
		t.Fatalf("ParseMarks = %v, %v; want [1 20 300]", got, err)
	}
	for _, bad := range []string{"0", "-3", "x"} {
		if _, err := ParseMarks(bad); err == nil {
			t.Errorf("ParseMarks(%q): no error", bad)
		}
	}
}

// Every mark is printed once, in order, however the adds interleave.
func TestCounterPrintsEachMarkOnce(t *testing.T) {
	var out bytes.Buffer
	c := NewCounter([]int64{1, 500, 1000}, &out)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 250 {
				c.Add(1)
			}
		}()
	}
	wg.Wait()
	if !c.Done() || c.Count() != 1000 {
		t.Fatalf("done %v, count %d", c.Done(), c.Count())
	}
	var marks []string
	for l := range strings.Lines(out.String()) {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "mark" {
			t.Fatalf("bad line %q", l)
		}
		marks = append(marks, f[1])
	}
	if strings.Join(marks, ",") != "1,500,1000" {
		t.Errorf("marks printed: %v", marks)
	}
	c.Reached(5000) // nothing left to print
	if strings.Count(out.String(), "\n") != 3 {
		t.Errorf("a mark was printed twice:\n%s", out.String())
	}
}
