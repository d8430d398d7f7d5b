package ingest_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/journey-dev/journey/pkg/ingest"
)

// TestPseudonymizeRecord: a record whose ids Record rewrote decodes to the
// event its original decodes to with Event applied — in every format the
// decoder reads ids from — and holds no raw id in its value or headers.
// The same id gives the same pseudonym; another secret another one.
func TestPseudonymizeRecord(t *testing.T) {
	p, err := ingest.NewPseudonymizer([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := ingest.NewDecoder(ingest.Config{TopicChannels: map[string]string{"web.events": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	const user, anon, prev = "jane.doe@example.com", "anon-3f2a-device", "+33612345678"
	for _, tc := range []struct {
		name string
		rec  ingest.Record
	}{
		{"segment identify", rec("web.events", `{"type":"identify","messageId":"m1","userId":"`+user+`","anonymousId":"`+anon+
			`","timestamp":"2025-11-20T10:00:00Z","traits":{"plan":"gold"},"context":{"channel":"web"}}`)},
		{"segment track, anonymous, escaped", rec("web.events", `{"type":"track","messageId":"m2","anonymousId":"`+anon+
			`","event":"Product Viewed","properties":{"product_id":"p<1>","price":10.5,"big":12345678901234567890}}`)},
		{"segment alias", rec("web.events", `{"type":"alias","messageId":"m3","userId":"`+user+`","previousId":"`+prev+`"}`)},
		{"segment null anonymousId", rec("web.events", `{"type":"track","messageId":"m4","userId":"`+user+`","anonymousId":null,"event":"X"}`)},
		{"cloudevent structured", rec("web.events", `{"specversion":"1.0","id":"c1","source":"/web","type":"com.shop.product.viewed",`+
			`"subject":"`+user+`","anonymousid":"`+anon+`","data":{"product_id":"p1"}}`, "content-type", "application/cloudevents+json")},
		{"cloudevent binary", rec("web.events", `{"product_id":"p1"}`, "ce_specversion", "1.0", "ce_id", "c2", "ce_source", "/web",
			"ce_type", "com.shop.product.viewed", "CE_Subject", user, "ce_anonymousid", anon, "content-type", "application/json")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := dec.Decode(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			p.Event(&want)
			v, hs, err := p.Record(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			r := tc.rec
			r.Value, r.Headers = v, hs
			got, err := dec.Decode(r)
			if err != nil {
				t.Fatalf("the rewritten record: %v\n%s", err, v)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("the rewritten record decodes to\n%+v\nwant\n%+v", got, want)
			}
			for _, raw := range []string{user, anon, prev} {
				if bytes.Contains(v, []byte(raw)) {
					t.Errorf("the value still holds %q: %s", raw, v)
				}
				for _, h := range hs {
					if strings.Contains(string(h.Value), raw) {
						t.Errorf("header %s still holds %q", h.Key, raw)
					}
				}
			}
			if hs[len(hs)-1].Key != ingest.HeaderPseudonymized {
				t.Errorf("no %s header: %v", ingest.HeaderPseudonymized, hs)
			}
			if want.CustomerID == "" || want.CustomerID == user || want.CustomerID == anon || len(want.CustomerID) != 32 {
				t.Errorf("customer %q: want a 32-digit pseudonym", want.CustomerID)
			}
		})
	}
	same, _ := ingest.NewPseudonymizer([]byte("secret"))
	other, _ := ingest.NewPseudonymizer([]byte("another secret"))
	if p.ID(user) != same.ID(user) || p.ID(user) == other.ID(user) || p.ID(user) == p.ID(anon) || p.ID("") != "" {
		t.Error("pseudonyms: want the same for the same id and secret, others otherwise, and none for no id")
	}
	if _, err := ingest.NewPseudonymizer([]byte(" \n")); err == nil {
		t.Error("an empty secret was accepted")
	}
}
