package main

import (
	"reflect"
	"testing"
	"time"
)

// Kafka's own test vectors (UtilsTest.testMurmur2), made positive as its
// partitioner does.
func TestMurmur2(t *testing.T) {
	for key, want := range map[string]int32{
		"21": -973932308, "foobar": -790332482, "a-little-bit-long-string": -985981536,
		"a-little-bit-longer-string": -1486304829, "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		h := newMurmur2()
		h.Write([]byte(key))
		if got := h.Sum32(); got != uint32(want)&0x7fffffff {
			t.Errorf("murmur2(%q) = %d, want %d", key, got, uint32(want)&0x7fffffff)
		}
	}
}

func TestFoldAndCodec(t *testing.T) {
	c := &customer{}
	at := time.UnixMilli(1_700_000_000_000)
	view := func(cat string, d time.Duration) *event {
		e := &event{Type: "track", Event: "Product Viewed", MessageID: "m", Timestamp: at.Add(d)}
		e.Context.Channel, e.Properties.Category = "web", cat
		return e
	}
	var fired int
	for i, e := range []*event{view("a", 0), view("a", time.Second), view("b", 0), view("a", 2*time.Second), view("a", 3*time.Second)} {
		if _, ok := fold(c, "k", e, 3); ok {
			fired++
			if i != 3 {
				t.Errorf("fired at event %d, want 3", i)
			}
		}
	}
	order := &event{Type: "track", Event: "Order Completed", Timestamp: at.Add(1500 * time.Millisecond)}
	order.Properties.Products = append(order.Properties.Products, struct {
		Category string `json:"category"`
	}{"a"})
	fold(c, "k", order, 3)
	if fired != 1 || len(c.Categories["a"].Views) != 2 || c.Categories["a"].Fired || c.Categories["a"].Purchased == 0 {
		t.Fatalf("fired %d, state %+v", fired, c.Categories["a"])
	}
	b, err := customerCodec{}.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := customerCodec{}.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip: %+v, want %+v", back, c)
	}
	if _, err := (customerCodec{}).Decode(b[:len(b)-1]); err == nil {
		t.Error("a truncated state decoded")
	}
}
