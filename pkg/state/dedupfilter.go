package state

import "math/bits"

// idFilter is a Bloom filter of the event ids one dedup bucket holds per-id
// keys for, while the partition's index has overflowed: a lookup reads the
// store only for an id the filter may hold, so a new id — nearly every
// event — costs a few memory reads instead of a Pebble point read per
// bucket it might be in (each a miss that searches every memtable and
// level).
//
// It answers "maybe" for every id added (no false negatives) and for about
// 0.5% of the others per full segment. It grows in segments, each twice
// the last's capacity (a bucket's ids are not known ahead; a bucket of
// 250,000 ids has five, about 2% false positives). A segment is a blocked
// filter: an id's bits all lie in one 512-bit block, one cache line.
type idFilter struct {
	segs []filterSeg
	// full: the partition's filters reached their bound
	// (filterIDsPerIndexed times the index's) and this one took no more
	// ids; it answers "maybe" for every id.
	full bool
}

type filterSeg struct {
	blocks [][8]uint64
	n, cap int
}

const (
	// filterFirstIDs is a bucket's first segment's capacity.
	filterFirstIDs = 1 << 14
	// filterBitsPerID sizes a segment; with 7 bits set per id in a 512-bit
	// block the false-positive rate is about 0.5%.
	filterBitsPerID = 12
	// filterIDsPerIndexed: the filters of a partition may hold this many
	// ids for each one its exact index may (DedupIndexMax), at about a
	// thirtieth of the bytes each.
	filterIDsPerIndexed = 16
)

// add records h, within room more ids of capacity. It returns how the
// filter's capacity changed, for the partition's bound.
func (f *idFilter) add(h idHash, room int) (grown int) {
	if f.full {
		return 0
	}
	if len(f.segs) == 0 || f.segs[len(f.segs)-1].n >= f.segs[len(f.segs)-1].cap {
		c := filterFirstIDs
		if len(f.segs) > 0 {
			c = 2 * f.segs[len(f.segs)-1].cap
		}
		if c > room {
			// Past the bound: answering "maybe" to everything is
			// the lookups of an index without a filter, never a
			// missed duplicate.
			for _, s := range f.segs {
				grown -= s.cap
			}
			f.full, f.segs = true, nil
			return grown
		}
		f.segs = append(f.segs, filterSeg{blocks: make([][8]uint64, (c*filterBitsPerID+511)/512), cap: c})
		grown = c
	}
	f.segs[len(f.segs)-1].set(h)
	return grown
}

// mayHave reports whether h may have been added (false: certainly not).
func (f *idFilter) mayHave(h idHash) bool {
	if f == nil {
		return false
	}
	if f.full {
		return true
	}
	for i := range f.segs {
		if f.segs[i].has(h) {
			return true
		}
	}
	return false
}

// filterProbes is how many bits an id sets in its block: 9 bits of h[1]
// each.
const filterProbes = 7

// block is h's block: h's first half mapped onto the blocks (Lemire's
// multiply-shift).
func (s *filterSeg) block(h idHash) *[8]uint64 {
	i, _ := bits.Mul64(h[0], uint64(len(s.blocks)))
	return &s.blocks[i]
}

func (s *filterSeg) set(h idHash) {
	blk := s.block(h)
	for i := range filterProbes {
		b := (h[1] >> (9 * i)) & 511
		blk[b>>6] |= 1 << (b & 63)
	}
	s.n++
}

func (s *filterSeg) has(h idHash) bool {
	blk := s.block(h)
	for i := range filterProbes {
		b := (h[1] >> (9 * i)) & 511
		if blk[b>>6]&(1<<(b&63)) == 0 {
			return false
		}
	}
	return true
}

// filterSet is the per-bucket filters of an overflowed index, within a
// bound on the ids they may hold together.
type filterSet struct {
	byBucket map[uint64]*idFilter
	ids      int // capacity of every segment
	// unfiltered: every id may be in any bucket (a read-only store,
	// which expands no packs, filters nothing).
	unfiltered bool
}

func (fs *filterSet) add(bucket uint64, h idHash, maxIDs int) {
	if fs.byBucket == nil {
		fs.byBucket = map[uint64]*idFilter{}
	}
	f := fs.byBucket[bucket]
	if f == nil {
		f = &idFilter{}
		fs.byBucket[bucket] = f
	}
	fs.ids += f.add(h, maxIDs-fs.ids)
}

func (fs *filterSet) mayHave(bucket uint64, h idHash) bool {
	return fs.unfiltered || fs.byBucket[bucket].mayHave(h)
}

// dropBefore forgets the filters of the buckets before b.
func (fs *filterSet) dropBefore(b uint64) {
	for bk, f := range fs.byBucket {
		if bk < b {
			for _, s := range f.segs {
				fs.ids -= s.cap
			}
			delete(fs.byBucket, bk)
		}
	}
}
