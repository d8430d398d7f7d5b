package ingest_test

import (
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/journey-dev/journey/pkg/ingest"
)

func ExampleDecoder_Decode() {
	d, err := ingest.NewDecoder(ingest.Config{
		TopicChannels: map[string]string{"web.events": "web"},
	})
	if err != nil {
		log.Fatal(err)
	}

	ev, err := d.Decode(ingest.Record{
		Topic: "web.events", Partition: 3, Offset: 1001,
		Value: []byte(`{"type":"track","event":"Product Viewed","messageId":"ajs-1","userId":"user-1",
			"timestamp":"2025-11-20T10:14:03+01:00","properties":{"product_id":"sku-231","price":129.9}}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	price, _ := ev.Num("price")
	fmt.Println(ev.Kind, ev.Name, ev.CustomerID, ev.Channel, ev.Time)
	fmt.Println(ev.Str("product_id"), price)

	// A rejected record: the reason goes to the DLQ headers, the message
	// to the log.
	_, err = d.Decode(ingest.Record{
		Topic: "web.events",
		Value: []byte(`{"type":"track","event":"Order Completed","messageId":"ajs-2","userId":"user-1","timestamp":"yesterday"}`),
	})
	var ie *ingest.Error
	if errors.As(err, &ie) {
		fmt.Println(ie.Reason, "|", ie.Msg)
	}
	// Output:
	// track Product Viewed user-1 web 2025-11-20 09:14:03 +0000 UTC
	// sku-231 129.9
	// time_violation | timestamp is not an RFC 3339 date-time
}

func ExampleDecoder_Decode_cloudEventsBinary() {
	d, err := ingest.NewDecoder(ingest.Config{
		CloudEventTypes: map[string]string{"com.shop.contact.ended": "Contact Ended"},
	})
	if err != nil {
		log.Fatal(err)
	}
	h := func(k, v string) ingest.Header { return ingest.Header{Key: k, Value: []byte(v)} }
	ev, err := d.Decode(ingest.Record{
		Topic: "callcentre.events",
		Headers: []ingest.Header{
			h("ce_specversion", "1.0"), h("ce_id", "cc-42"), h("ce_source", "/callcentre"),
			h("ce_type", "com.shop.contact.ended"), h("ce_subject", "user-1"),
			h("ce_channel", "call_centre"), h("ce_consent", "phone=true,sms=false"),
			h("content-type", "application/json"),
		},
		Value: []byte(`{"contact_id":"call-42","medium":"phone","outcome":"failed"}`),
		Time:  time.Date(2025, 11, 20, 11, 2, 37, 0, time.UTC), // no ce_time: the record time
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.ID, ev.Kind, ev.Name, ev.CustomerID, ev.Channel, ev.Time)
	fmt.Println(ev.Str("outcome"), ev.Consent)
	// Output:
	// cc-42 track Contact Ended user-1 call_centre 2025-11-20 11:02:37 +0000 UTC
	// failed map[phone:true sms:false]
}
