//go:build journey_decoders

package ingest

// This file is built only with the journey_decoders tag, by bench/decoders,
// which compares JSON libraries with the package's parser. It is not part
// of the package's API.

// WithUnmarshal returns a copy of d that parses JSON with unmarshal (into
// an any, as encoding/json.Unmarshal does) instead of the package's parser.
// The Segment fast path is off: each record takes the general path, its
// schema checks and event construction.
func (d *Decoder) WithUnmarshal(unmarshal func([]byte, *any) error) *Decoder {
	c := *d
	c.parser = func(b []byte, what string, _ bool) (any, *Error) {
		var v any
		if err := unmarshal(b, &v); err != nil {
			if len(trimSpace(b)) == 0 {
				return nil, errorf(ReasonFormat, "%s is empty", what)
			}
			return nil, errorf(ReasonFormat, "%s is not valid JSON", what)
		}
		return v, nil
	}
	return &c
}

// WithoutFastPath returns a copy of d that keeps the package's parser but
// not the Segment fast path: the general path for every record.
func (d *Decoder) WithoutFastPath() *Decoder {
	c := *d
	c.parser = func(b []byte, what string, event bool) (any, *Error) {
		return parse(b, what, d.keys, event)
	}
	return &c
}

// ParseJSON parses b with the package's parser as the decoder parses
// CloudEvents data: the whole value, keys shared.
func (d *Decoder) ParseJSON(b []byte) (any, error) {
	v, err := parseJSON(b, "value", d.keys)
	if err != nil {
		return nil, err
	}
	return v, nil
}
