// Package schemas holds the JSON Schemas (draft 2020-12) of what journey
// reads and writes, embedded in the binary:
//
//   - segment.json: the Segment Spec envelope (track, identify, page, screen,
//     alias, group);
//   - cloudevents.json: the CloudEvents 1.0 envelope in structured JSON, with
//     the extension attributes journey reads;
//   - events/*.json: one schema per event journey understands, checking the
//     event's properties (Segment "properties", CloudEvents "data"); Events
//     is the table from event name to schema;
//   - trigger.json: a trigger as written to a channel's Redis stream;
//   - defs.json: definitions the other schemas share through $ref.
//
// Every schema's $id is BaseURI followed by its path in FS, so relative
// $refs resolve both here and in any generic validator that is given all
// the files. The envelopes require what journey cannot do without; event
// schemas require nothing, as Segment's spec requires no property, and
// allow additional properties: producers send more than journey reads.
// The ingest decoder brings properties to their event schema (coercing or
// dropping what fails it) rather than rejecting the message.
//
// Formats (date-time, uri) are annotations, as draft 2020-12 has it: the
// ingest decoder parses times itself and reports a time violation. Call
// AssertFormat on the compiler to check them too.
package schemas

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed *.json events/*.json
var files embed.FS

// BaseURI is the base of every schema's $id.
const BaseURI = "https://github.com/journey-dev/journey/schemas/"

// Paths in FS of the envelope, trigger and shared schemas.
const (
	Segment     = "segment.json"
	CloudEvents = "cloudevents.json"
	Trigger     = "trigger.json"
	Defs        = "defs.json"
)

// FS returns the embedded schema files: the envelope, trigger and shared
// schemas at the top, event schemas under events/.
func FS() fs.FS { return files }

// URL returns the $id of the schema at path p in FS.
func URL(p string) string { return BaseURI + p }

// EventSchema names the schema of one event.
type EventSchema struct {
	// Name is the event name, as in a Segment track call ("Order Completed").
	// Names match exactly, case included.
	Name string
	// Path is the schema's path in FS.
	Path string
}

// events is the one table from event name to schema. A schema file under
// events/ that is not listed here is not used (a test checks there is none).
var events = [...]EventSchema{
	// E-commerce (Segment e-commerce v2, in the spec's order).
	{"Products Searched", "events/products_searched.json"},
	{"Product List Viewed", "events/product_list_viewed.json"},
	{"Product List Filtered", "events/product_list_filtered.json"},
	{"Promotion Viewed", "events/promotion_viewed.json"},
	{"Promotion Clicked", "events/promotion_clicked.json"},
	{"Product Clicked", "events/product_clicked.json"},
	{"Product Viewed", "events/product_viewed.json"},
	{"Product Added", "events/product_added.json"},
	{"Product Removed", "events/product_removed.json"},
	{"Cart Viewed", "events/cart_viewed.json"},
	{"Checkout Started", "events/checkout_started.json"},
	{"Checkout Step Viewed", "events/checkout_step_viewed.json"},
	{"Checkout Step Completed", "events/checkout_step_completed.json"},
	{"Payment Info Entered", "events/payment_info_entered.json"},
	{"Order Updated", "events/order_updated.json"},
	{"Order Completed", "events/order_completed.json"},
	{"Order Refunded", "events/order_refunded.json"},
	{"Order Cancelled", "events/order_cancelled.json"},
	{"Coupon Entered", "events/coupon_entered.json"},
	{"Coupon Applied", "events/coupon_applied.json"},
	{"Coupon Denied", "events/coupon_denied.json"},
	{"Coupon Removed", "events/coupon_removed.json"},
	{"Product Added to Wishlist", "events/product_added_to_wishlist.json"},
	{"Product Removed from Wishlist", "events/product_removed_from_wishlist.json"},
	{"Wishlist Product Added to Cart", "events/wishlist_product_added_to_cart.json"},
	{"Product Shared", "events/product_shared.json"},
	{"Cart Shared", "events/cart_shared.json"},
	{"Product Reviewed", "events/product_reviewed.json"},
	// Social engagement.
	{"Product Liked", "events/product_liked.json"},
	{"Comment Posted", "events/comment_posted.json"},
	// Email (Segment email spec).
	{"Email Opened", "events/email_opened.json"},
	{"Email Link Clicked", "events/email_link_clicked.json"},
	{"Email Marked as Spam", "events/email_marked_as_spam.json"},
	{"Email Unsubscribed", "events/email_unsubscribed.json"},
	// Mobile (Segment mobile spec).
	{"Push Notification Received", "events/push_notification_received.json"},
	{"Push Notification Tapped", "events/push_notification_tapped.json"},
	{"Application Opened", "events/application_opened.json"},
	// Call centre and live chat.
	{"Contact Started", "events/contact_started.json"},
	{"Contact Ended", "events/contact_ended.json"},
	{"Call Answered", "events/call_answered.json"},
	// Feedback.
	{"Complaint Submitted", "events/complaint_submitted.json"},
	{"Survey Submitted", "events/survey_submitted.json"},
}

// Events returns the table of event schemas, in a stable order. Events
// whose name is not in it are checked against their envelope only.
func Events() []EventSchema { return slices.Clone(events[:]) }

// EventPath returns the path in FS of the schema of the event called name.
func EventPath(name string) (string, bool) {
	for _, e := range events {
		if e.Name == name {
			return e.Path, true
		}
	}
	return "", false
}

// NewCompiler returns a compiler that knows every embedded schema under its
// $id and defaults to draft 2020-12. Compile URL(path) with it.
func NewCompiler() (*jsonschema.Compiler, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	err := fs.WalkDir(files, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() || path.Ext(p) != ".json" {
			return err
		}
		f, err := files.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			return fmt.Errorf("schemas: %s: %w", p, err)
		}
		if err := c.AddResource(URL(p), doc); err != nil {
			return fmt.Errorf("schemas: %s: %w", p, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Compile compiles the embedded schema at path p (Segment, Trigger,
// an EventSchema's Path...) with a fresh compiler from NewCompiler.
// The result is safe for concurrent use.
func Compile(p string) (*jsonschema.Schema, error) {
	c, err := NewCompiler()
	if err != nil {
		return nil, err
	}
	s, err := c.Compile(URL(p))
	if err != nil {
		return nil, fmt.Errorf("schemas: compile %s: %w", p, err)
	}
	return s, nil
}
