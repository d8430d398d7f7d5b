// Package ingest holds the decoder that turns a Kafka record into a
// journey.Event: it recognises the envelope (Segment Spec or CloudEvents),
// validates it and the event's properties against the schemas in package
// schemas, and normalises both envelopes onto one Event. A record it
// rejects comes back as an *Error whose Reason names the DLQ reason.
//
// # Envelopes
//
// A record is read as, in this order:
//
//   - CloudEvents structured mode when its content-type header is
//     application/cloudevents+json (the batch format is rejected);
//   - CloudEvents binary mode when it has a ce_specversion header: the
//     attributes are the ce_* headers (names lower-cased), the content-type
//     header is datacontenttype and the value is the data;
//   - otherwise by its value, which must be a JSON object: CloudEvents
//     structured mode when it has "specversion", a Segment message when its
//     "type" is track, identify, page, screen, alias or group.
//
// # Segment messages
//
//   - ID: messageId. Kind: type. Name: event (track), name (page, screen).
//   - CustomerID: userId, else anonymousId (null and "" count as absent).
//   - PreviousID: previousId (alias).
//   - Channel: context.channel, else Config.TopicChannels[topic], else "".
//   - TimeZone: context.timezone, passed on unchecked beyond its length.
//   - Consent: context.consent, an object of channel -> bool. Segment's
//     context.consent.categoryPreferences object is merged in, the
//     top-level entries winning.
//   - Traits: traits, else context.traits. Properties: properties.
//   - Time, with Segment's clock-skew correction: when originalTimestamp,
//     sentAt and receivedAt are all present, receivedAt - (sentAt -
//     originalTimestamp); else timestamp; else originalTimestamp; else
//     receivedAt; else the Kafka record time.
//
// # CloudEvents
//
//   - ID: id. Name: Config.CloudEventTypes[type], else type. Kind: track
//     when the type was mapped to a name, else cloudevent.
//   - CustomerID: subject, else the extension attribute userid, else
//     anonymousid. UserID and AnonymousID are those extensions.
//   - Channel: the extension channel, else the topic's channel.
//   - TimeZone: the extension timezone.
//   - Consent: the extension consent, a comma-separated list of
//     channel=true|false ("email=true,sms=false"). CloudEvents extension
//     values are scalars and travel as plain Kafka headers in binary mode,
//     so consent is an envelope attribute rather than part of the data.
//   - Time: time, else the Kafka record time.
//   - Properties: data when it is a JSON object. data_base64 is decoded and
//     read as JSON when datacontenttype is absent or JSON; in binary mode the
//     value is read as JSON when content-type is absent or JSON. Other data
//     is not kept.
//
// # Validation
//
// The value is parsed once. The envelope schema (schemas.Segment or
// schemas.CloudEvents) is checked on the parsed value, and the Event is
// built from the same value: its Properties are the parsed maps
// themselves, with every number a float64. Formats in the schemas are not
// asserted: times are parsed here, and a bad one is a time violation.
//
// Only the envelope can reject a record: what it requires is a type, an
// id, a user or anonymous id and times that parse. The properties of an
// event named in schemas.Events (a track call or a CloudEvent) are brought
// to its schema instead of judged by it (conform.go): a value of the wrong
// type is coerced where Segment's tools coerce (the numeric string "19.99"
// for a price, the whole number 12345 for a product_id) and dropped
// otherwise, so a processor finds a property with the schema's type or
// not at all, and ignores the event when it needs what is missing. No
// event schema requires a property: Segment's spec requires none.
//
// Checks run in this order, the first failure giving the Reason: size;
// format (parsing the value, or in binary mode the data); id; customer
// key; envelope schema; format again for data_base64, decoded once the
// envelope is known good; time. Error messages name fields, JSON pointers
// and schema keywords, never a value the producer sent, so they can go to
// logs and DLQ headers.
//
// Both steps are built for the per-event hot path. The JSON parser
// (json.go) gives exactly what encoding/json gives into an `any`, in one
// pass and sharing the strings of the object keys the schemas name. The
// schemas are compiled once by santhosh-tekuri/jsonschema, which stays the
// reference and explains every failure; valid values are recognised by a
// reduced, allocation-free form of the same compiled schemas
// (validate.go). Fuzz tests hold the parser to encoding/json and the
// reduced validator to the reference.
//
// Event time must parse as RFC 3339 (or ISO 8601 with a "+hhmm" offset,
// as older Segment libraries write it), be after the Unix epoch and be no
// later than Config.Now() + Config.MaxFuture. The returned Event keeps no
// reference to the Record's byte slices.
package ingest
