// Package wire holds the binary encoding primitives processors use for
// their state: a bounds-checked reader and append helpers.
//
// Two encodings of times are used. A Unix time is a varint of Unix
// seconds and a uvarint of nanoseconds, between year 1 and year 9999 (what
// RFC 3339 can write); the zero time is year 1 and reads back as the zero
// time. A nano time is a uvarint of nanoseconds since 1970, before 2200,
// so that every such time and every difference between two of them fits
// an int64. An age is a uvarint of nanoseconds before a later time.
//
// A string is a uvarint length and the bytes.
package wire

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"time"
)

// Bounds of Unix times, in Unix seconds: year 1 to year 9999.
var (
	MinUnix = time.Time{}.Unix()
	MaxUnix = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
)

// Bounds of nano times: Epoch (1970) included, NanoEnd (2200) excluded.
var (
	Epoch   = time.Unix(0, 0).UTC()
	NanoEnd = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// InUnixRange reports whether t is between year 1 and year 9999; the zero
// time is.
func InUnixRange(t time.Time) bool {
	sec := t.Unix()
	return sec >= MinUnix && sec <= MaxUnix
}

// InNanoRange reports whether t is in [Epoch, NanoEnd).
func InNanoRange(t time.Time) bool { return !t.Before(Epoch) && t.Before(NanoEnd) }

// AppendString appends s as a uvarint length and the bytes.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendStrings appends the number of ss, then each as a string.
func AppendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = AppendString(b, s)
	}
	return b
}

// AppendUnixTime appends t as a varint of Unix seconds and a uvarint of
// nanoseconds. The caller checks InUnixRange.
func AppendUnixTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// AppendNanoTime appends t as a uvarint of nanoseconds since Epoch. The
// caller checks InNanoRange.
func AppendNanoTime(b []byte, t time.Time) []byte {
	return binary.AppendUvarint(b, uint64(t.Sub(Epoch)))
}

// AppendAge appends at - t as a uvarint of nanoseconds. It reports false,
// appending nothing, when t is after at, before earliest, or too far
// before at for an int64 of nanoseconds.
func AppendAge(b []byte, at, t, earliest time.Time) ([]byte, bool) {
	d := at.Sub(t)
	if d < 0 || d == math.MaxInt64 || t.Before(earliest) {
		return b, false
	}
	return binary.AppendUvarint(b, uint64(d)), true
}

// Reader decodes what the Append functions and package binary append. It
// checks every read against the bytes left: after the first failure it
// keeps that error, and every read returns a zero value.
type Reader struct {
	b       []byte
	s       string // b as a string: decoded strings are slices of it
	off     int
	err     error
	corrupt error
}

// NewReader returns a Reader of data whose errors wrap corrupt and read
// "<corrupt>: <what> at byte <offset>". Strings it returns share one copy
// of data, not data itself.
func NewReader(data []byte, corrupt error) Reader {
	return Reader{b: data, s: string(data), corrupt: corrupt}
}

// Fail records the failure what at the current offset, unless one is
// already recorded, and moves to the end of the data.
func (r *Reader) Fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at byte %d", r.corrupt, what, r.off)
	}
	r.off = len(r.b)
}

// Err returns the first failure, or nil.
func (r *Reader) Err() error { return r.err }

// Remaining returns the number of bytes not read yet.
func (r *Reader) Remaining() int { return len(r.b) - r.off }

// Finish fails with "trailing bytes" when bytes are left, and returns the
// first failure, or nil.
func (r *Reader) Finish() error {
	if r.err == nil && r.off != len(r.b) {
		r.Fail("trailing bytes")
	}
	return r.err
}

// Uvarint reads a uvarint.
func (r *Reader) Uvarint() uint64 {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.Fail("bad uvarint")
		return 0
	}
	r.off += n
	return v
}

// Varint reads a varint.
func (r *Reader) Varint() int64 {
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.Fail("bad varint")
		return 0
	}
	r.off += n
	return v
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if r.off >= len(r.b) {
		r.Fail("unexpected end")
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

// Uint64 reads 8 bytes, little-endian.
func (r *Reader) Uint64() uint64 {
	if len(r.b)-r.off < 8 {
		r.Fail("unexpected end")
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

// Count reads a uvarint number of items taking at least minBytes (> 0)
// each, checking that the bytes left can hold them.
func (r *Reader) Count(minBytes int) int {
	n := r.Uvarint()
	if n > uint64((len(r.b)-r.off)/minBytes) {
		r.Fail("count larger than the data")
		return 0
	}
	return int(n)
}

// CountAtMost is Count that also checks the number is at most limit.
func (r *Reader) CountAtMost(minBytes, limit int) int {
	n := r.Uvarint()
	if r.err != nil {
		return 0
	}
	if n > uint64(limit) || n > uint64((len(r.b)-r.off)/minBytes) {
		r.Fail("count larger than the bounds or the data")
		return 0
	}
	return int(n)
}

// Str reads a string.
func (r *Reader) Str() string {
	n := r.Uvarint()
	if n > uint64(len(r.b)-r.off) {
		r.Fail("string longer than the data")
		return ""
	}
	s := r.s[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

// UnixTime reads what AppendUnixTime appends, in UTC, failing when it is
// not between year 1 and year 9999.
func (r *Reader) UnixTime() time.Time {
	sec := r.Varint()
	nsec := r.Uvarint()
	if r.err != nil {
		return time.Time{}
	}
	if sec < MinUnix || sec > MaxUnix || nsec >= 1e9 {
		r.Fail("time out of range")
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// NonzeroUnixTime is UnixTime that also fails on the zero time.
func (r *Reader) NonzeroUnixTime() time.Time {
	t := r.UnixTime()
	if r.err == nil && t.IsZero() {
		r.Fail("zero time")
	}
	return t
}

// NanoTime reads what AppendNanoTime appends, failing when it is not
// before NanoEnd.
func (r *Reader) NanoTime() time.Time {
	d := r.Uvarint()
	if r.err == nil && d >= uint64(NanoEnd.Sub(Epoch)) {
		r.Fail("time out of range")
	}
	if r.err != nil {
		return time.Time{}
	}
	return Epoch.Add(time.Duration(d))
}

// Age reads what AppendAge appends: a time before at, failing when it is
// before earliest.
func (r *Reader) Age(at, earliest time.Time) time.Time {
	d := r.Uvarint()
	if r.err == nil && (d >= math.MaxInt64 || time.Duration(d) > at.Sub(earliest)) {
		r.Fail("time out of range")
	}
	if r.err != nil {
		return time.Time{}
	}
	return at.Add(-time.Duration(d))
}

// HashID returns the 64-bit FNV-1a hash of an event id. States keep such
// hashes rather than ids, as 8 bytes little-endian: the same size whatever
// the producer's id format.
func HashID(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

// AppendHashJSON appends h as a JSON string of 16 hex digits.
func AppendHashJSON(b []byte, h uint64) []byte {
	b = append(b, '"')
	s := strconv.FormatUint(h, 16)
	for range 16 - len(s) {
		b = append(b, '0')
	}
	return append(append(b, s...), '"')
}

// Millionths is the scale of fixed-point scores: a score v stands for
// v / Millionths. Fixed point makes a state encode exactly and compactly.
const Millionths = 1_000_000

// AppendMillionths appends the fixed-point v as an exact decimal: 2.5,
// 0.000001, 3.
func AppendMillionths(b []byte, v uint64) []byte {
	b = strconv.AppendUint(b, v/Millionths, 10)
	if frac := v % Millionths; frac != 0 {
		f := strconv.FormatUint(frac+Millionths, 10)[1:] // 6 digits
		b = append(append(b, '.'), strings.TrimRight(f, "0")...)
	}
	return b
}
