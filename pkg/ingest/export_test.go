package ingest

import "github.com/journey-dev/journey/pkg/journey"

// FastSegment and DecodeGeneral expose Decode's two paths for a record
// without CloudEvents headers to the tests, which check that they agree.
func (d *Decoder) FastSegment(r Record) (journey.Event, bool) { return d.fastSegment(&r) }

func (d *Decoder) DecodeGeneral(r Record) (journey.Event, error) { return d.decodeValue(&r, false) }
