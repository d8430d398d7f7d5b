package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

var errTest = errors.New("test: corrupt state")

func TestAppend(t *testing.T) {
	at := time.Date(2026, 11, 1, 10, 0, 0, 5, time.UTC)
	for _, c := range []struct {
		name string
		got  []byte
		want []byte
	}{
		{"empty string", AppendString(nil, ""), []byte{0}},
		{"string", AppendString([]byte{9}, "ab"), []byte{9, 2, 'a', 'b'}},
		{"no strings", AppendStrings(nil, nil), []byte{0}},
		{"strings", AppendStrings(nil, []string{"a", ""}), []byte{2, 1, 'a', 0}},
		{"zero unix time", AppendUnixTime(nil, time.Time{}), binary.AppendUvarint(binary.AppendVarint(nil, MinUnix), 0)},
		{"unix time", AppendUnixTime(nil, at), binary.AppendUvarint(binary.AppendVarint(nil, at.Unix()), 5)},
		{"epoch", AppendNanoTime(nil, Epoch), []byte{0}},
		{"nano time", AppendNanoTime(nil, Epoch.Add(300)), []byte{0xac, 2}},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s: got %x, want %x", c.name, c.got, c.want)
		}
	}
}

func TestAppendAge(t *testing.T) {
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name      string
		at, t, e  time.Time
		want      []byte
		wantValid bool
	}{
		{"same time", at, at, Epoch, []byte{0}, true},
		{"a second before", at, at.Add(-time.Second), Epoch, binary.AppendUvarint(nil, 1e9), true},
		{"after at", at, at.Add(1), Epoch, nil, false},
		{"before earliest", at, Epoch.Add(-1), Epoch, nil, false},
		{"too far before", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}, time.Time{}, nil, false},
	} {
		got, ok := AppendAge(nil, c.at, c.t, c.e)
		if ok != c.wantValid || !bytes.Equal(got, c.want) {
			t.Errorf("%s: got %x, %v; want %x, %v", c.name, got, ok, c.want, c.wantValid)
		}
	}
}

func TestRanges(t *testing.T) {
	for _, c := range []struct {
		t          time.Time
		unix, nano bool
	}{
		{time.Time{}, true, false},
		{Epoch, true, true},
		{NanoEnd.Add(-1), true, true},
		{NanoEnd, true, false},
		{time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), true, false},
		{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), false, false},
		{time.Time{}.Add(-time.Second), false, false},
	} {
		if got := InUnixRange(c.t); got != c.unix {
			t.Errorf("InUnixRange(%v) = %v", c.t, got)
		}
		if got := InNanoRange(c.t); got != c.nano {
			t.Errorf("InNanoRange(%v) = %v", c.t, got)
		}
	}
}

func TestReader(t *testing.T) {
	at := time.Date(2026, 11, 1, 10, 0, 0, 7, time.UTC)
	unix := func(sec int64, nsec uint64) []byte {
		return binary.AppendUvarint(binary.AppendVarint(nil, sec), nsec)
	}
	for _, c := range []struct {
		name    string
		data    []byte
		read    func(r *Reader) any
		want    any
		wantErr string // "" for none
	}{
		{"uvarint", []byte{0xac, 2}, func(r *Reader) any { return r.Uvarint() }, uint64(300), ""},
		{"bad uvarint", []byte{0x80}, func(r *Reader) any { return r.Uvarint() }, uint64(0), "bad uvarint at byte 0"},
		{"varint", []byte{3}, func(r *Reader) any { return r.Varint() }, int64(-2), ""},
		{"bad varint", nil, func(r *Reader) any { return r.Varint() }, int64(0), "bad varint at byte 0"},
		{"byte", []byte{7}, func(r *Reader) any { return r.Byte() }, byte(7), ""},
		{"no byte", nil, func(r *Reader) any { return r.Byte() }, byte(0), "unexpected end at byte 0"},
		{"uint64", []byte{1, 0, 0, 0, 0, 0, 0, 2}, func(r *Reader) any { return r.Uint64() }, uint64(2<<56 | 1), ""},
		{"short uint64", []byte{1, 2, 3}, func(r *Reader) any { return r.Uint64() }, uint64(0), "unexpected end at byte 0"},
		{"count", []byte{2, 0, 0, 0, 0}, func(r *Reader) any { return r.Count(2) }, 2, ""},
		{"count too large", []byte{3, 0, 0, 0, 0}, func(r *Reader) any { return r.Count(2) }, 0, "count larger than the data at byte 1"},
		{"count at most", []byte{2, 0, 0}, func(r *Reader) any { return r.CountAtMost(1, 2) }, 2, ""},
		{"count above limit", []byte{3, 0, 0, 0}, func(r *Reader) any { return r.CountAtMost(1, 2) }, 0, "count larger than the bounds or the data at byte 1"},
		{"string", []byte{2, 'h', 'i'}, func(r *Reader) any { return r.Str() }, "hi", ""},
		{"empty string", []byte{0}, func(r *Reader) any { return r.Str() }, "", ""},
		{"long string", []byte{3, 'h', 'i'}, func(r *Reader) any { return r.Str() }, "", "string longer than the data at byte 1"},
		{"unix time", unix(at.Unix(), 7), func(r *Reader) any { return r.UnixTime() }, at, ""},
		{"zero unix time", unix(MinUnix, 0), func(r *Reader) any { return r.UnixTime() }, time.Time{}, ""},
		{"unix time after 9999", unix(MaxUnix+1, 0), func(r *Reader) any { return r.UnixTime() }, time.Time{}, "time out of range"},
		{"bad nanoseconds", unix(0, 1e9), func(r *Reader) any { return r.UnixTime() }, time.Time{}, "time out of range"},
		{"nonzero unix time", unix(at.Unix(), 7), func(r *Reader) any { return r.NonzeroUnixTime() }, at, ""},
		{"zero nonzero unix time", unix(MinUnix, 0), func(r *Reader) any { return r.NonzeroUnixTime() }, time.Time{}, "zero time"},
		{"nano time", []byte{0xac, 2}, func(r *Reader) any { return r.NanoTime() }, Epoch.Add(300), ""},
		{"nano time at 2200", binary.AppendUvarint(nil, uint64(NanoEnd.Sub(Epoch))), func(r *Reader) any { return r.NanoTime() }, time.Time{}, "time out of range"},
		{"age", []byte{0xac, 2}, func(r *Reader) any { return r.Age(at, Epoch) }, at.Add(-300), ""},
		{"age before earliest", binary.AppendUvarint(nil, uint64(at.Sub(Epoch))+1), func(r *Reader) any { return r.Age(at, Epoch) }, time.Time{}, "time out of range"},
		{"huge age", binary.AppendUvarint(nil, math.MaxUint64), func(r *Reader) any { return r.Age(at, time.Time{}) }, time.Time{}, "time out of range"},
	} {
		r := NewReader(c.data, errTest)
		got := c.read(&r)
		if got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
		err := r.Err()
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErr != "" && (err == nil || !errors.Is(err, errTest) || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: got error %v, want one with %q", c.name, err, c.wantErr)
		}
	}
}

func TestReaderFailure(t *testing.T) {
	r := NewReader([]byte{1, 2, 3}, errTest)
	r.Byte()
	r.Fail("first")
	r.Fail("second")
	if got := r.Byte(); got != 0 {
		t.Errorf("read %d after a failure", got)
	}
	if r.Remaining() != 0 {
		t.Errorf("%d bytes remaining after a failure", r.Remaining())
	}
	if err := r.Finish(); err == nil || err.Error() != "test: corrupt state: first at byte 1" {
		t.Errorf("got %v", err)
	}

	r = NewReader([]byte{1, 2}, errTest)
	r.Byte()
	if err := r.Finish(); err == nil || err.Error() != "test: corrupt state: trailing bytes at byte 1" {
		t.Errorf("got %v", err)
	}
	r = NewReader([]byte{1}, errTest)
	r.Byte()
	if err := r.Finish(); err != nil {
		t.Error(err)
	}
}

func TestStringsDoNotShareData(t *testing.T) {
	data := []byte{2, 'h', 'i'}
	r := NewReader(data, errTest)
	s := r.Str()
	data[1] = 'X'
	if s != "hi" {
		t.Errorf("got %q after changing the data", s)
	}
}

// FuzzReader checks that no sequence of reads of arbitrary bytes panics,
// that reads stay within the data, and that a failure sticks.
func FuzzReader(f *testing.F) {
	f.Add([]byte{}, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add(AppendString(AppendUnixTime(nil, time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)), "abc"), []byte{9, 5})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1}, []byte{0, 1, 10, 11})
	f.Fuzz(func(t *testing.T, data, ops []byte) {
		r := NewReader(data, errTest)
		at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
		failed := false
		for _, op := range ops {
			before := r.Remaining()
			switch op % 13 {
			case 0:
				r.Uvarint()
			case 1:
				r.Varint()
			case 2:
				r.Byte()
			case 3:
				r.Uint64()
			case 4:
				r.Count(1 + int(op/13)%8)
			case 5:
				r.CountAtMost(1+int(op/13)%8, int(op/13))
			case 6:
				if s := r.Str(); len(s) > before {
					t.Fatalf("string of %d bytes from %d", len(s), before)
				}
			case 7:
				if tm := r.UnixTime(); !InUnixRange(tm) {
					t.Fatalf("time %v out of range", tm)
				}
			case 8:
				r.NonzeroUnixTime()
			case 9:
				if tm := r.NanoTime(); r.Err() == nil && !InNanoRange(tm) {
					t.Fatalf("time %v out of range", tm)
				}
			case 10:
				if tm := r.Age(at, Epoch); r.Err() == nil && (tm.After(at) || tm.Before(Epoch)) {
					t.Fatalf("age %v out of range", tm)
				}
			case 11:
				r.Age(at, time.Time{})
			case 12:
				r.Finish()
			}
			if r.Remaining() < 0 || r.Remaining() > before {
				t.Fatalf("remaining went from %d to %d", before, r.Remaining())
			}
			if failed && r.Remaining() != 0 {
				t.Fatal("reads continue after a failure")
			}
			if r.Err() != nil {
				if !errors.Is(r.Err(), errTest) {
					t.Fatalf("error %v does not wrap the sentinel", r.Err())
				}
				failed = true
			}
		}
	})
}

func TestHashID(t *testing.T) {
	for _, c := range []struct {
		id   string
		want uint64
	}{
		{"", 0xcbf29ce484222325},
		{"a", 0xaf63dc4c8601ec8c},
	} {
		if got := HashID(c.id); got != c.want {
			t.Errorf("HashID(%q) = %#x, want %#x", c.id, got, c.want)
		}
	}
}

func TestAppendHashJSON(t *testing.T) {
	for _, c := range []struct {
		h    uint64
		want string
	}{
		{0, `"0000000000000000"`},
		{0xabc, `"0000000000000abc"`},
		{math.MaxUint64, `"ffffffffffffffff"`},
	} {
		if got := string(AppendHashJSON(nil, c.h)); got != c.want {
			t.Errorf("AppendHashJSON(%#x) = %s, want %s", c.h, got, c.want)
		}
	}
}

func TestAppendMillionths(t *testing.T) {
	for _, c := range []struct {
		v    uint64
		want string
	}{
		{0, "0"},
		{1, "0.000001"},
		{2_500_000, "2.5"},
		{3_000_000, "3"},
		{12_345_678, "12.345678"},
		{1e15, "1000000000"},
	} {
		if got := string(AppendMillionths(nil, c.v)); got != c.want {
			t.Errorf("AppendMillionths(%d) = %s, want %s", c.v, got, c.want)
		}
	}
}
