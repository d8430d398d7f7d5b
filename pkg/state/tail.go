package state

import "sync"

// tail is an in-memory copy of a partition's newest committed outbox
// entries, so the dispatcher reads what the worker just committed without
// a Pebble iterator and a copy of every entry: in live traffic each commit
// adds only a few entries, and an iterator per delivery costs more than the
// entries themselves.
//
// It holds a contiguous run of sequence numbers [from, from+len(es)),
// exactly as committed. Anything else — entries left by an earlier run, a
// restore, a run cut short because the tail was full — is read from
// Pebble: read answers only for a head inside the run. A batch that does
// not continue the run (the tail is full, or it was emptied and entries
// were committed meanwhile) is not added; once the run is delivered, the
// next batch starts a new one.
type tail struct {
	mu    sync.Mutex
	es    []OutboxEntry
	bytes int
}

// tailMaxEntries and tailMaxBytes bound the tail; past them the
// dispatcher reads Pebble (a sink outage, a backlog of deliveries).
// Variables so tests can make the tail overflow.
var (
	tailMaxEntries = 1 << 16
	tailMaxBytes   = 32 << 20
)

// push adds a committed batch's entries (in seq order), keeping the tail
// within maxBytes (and tailMaxBytes).
func (t *tail) push(es []OutboxEntry, maxBytes int) {
	if len(es) == 0 {
		return
	}
	n := 0
	for i := range es {
		n += len(es[i].Data)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.es) > 0 && es[0].Seq != t.es[len(t.es)-1].Seq+1 ||
		len(t.es)+len(es) > tailMaxEntries || t.bytes+n > min(maxBytes, tailMaxBytes) {
		return
	}
	t.es = append(t.es, es...)
	t.bytes += n
}

// read returns up to max entries from head, or nil when the tail does not
// hold head (read Pebble).
func (t *tail) read(head uint64, max int) []OutboxEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.es) == 0 || head < t.es[0].Seq || head > t.es[len(t.es)-1].Seq {
		return nil
	}
	es := t.es[head-t.es[0].Seq:]
	return append([]OutboxEntry(nil), es[:min(max, len(es))]...)
}

// trim drops the entries before head (delivered).
func (t *tail) trim(head uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := 0
	for i < len(t.es) && t.es[i].Seq < head {
		t.bytes -= len(t.es[i].Data)
		i++
	}
	if i == len(t.es) {
		clear(t.es)
		t.es, t.bytes = t.es[:0], 0
		return
	}
	// Slide the rest down now and then, so the slice does not only grow.
	if i > 0 && i >= len(t.es)/2 {
		n := copy(t.es, t.es[i:])
		clear(t.es[n:])
		t.es = t.es[:n]
		return
	}
	t.es = t.es[i:]
}

// reset forgets the tail: the key space changed under it (load, drop).
func (t *tail) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.es, t.bytes = nil, 0
}
