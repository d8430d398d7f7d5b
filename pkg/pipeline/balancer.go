package pipeline

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/segmentio/kafka-go"
)

// This file is the consumer group's assignment strategy for the changelog
// protocol (DESIGN.md, "Scale-out: the changelog protocol"): members
// advertise which partitions' state they hold and how fresh it is, and the
// group leader gives each partition to the member that can resume it with
// the shortest restore, without ever giving up load balance.

// StateBalancerProtocol is the group protocol name of StateBalancer. It is
// persisted by the broker as the group's protocol: a member with another
// balancer (or another version of this one, with another user data format)
// cannot join the group, rather than misreading the others' user data.
const StateBalancerProtocol = "journey-state-v1"

// StateBalancerProtocolV2 is StateBalancer's protocol whose user data
// also carries the member's API address (MemberState.API). A member offers
// both protocols, v2 first, so a group of members that all have it uses
// it, and a group with a member of an earlier version stays on v1 (whose
// user data those members can read) until every member offers v2.
const StateBalancerProtocolV2 = "journey-state-v2"

// memberStateVersion is the first byte of an encoded MemberState: 1, or 2
// when it carries an API address.
const (
	memberStateVersion   byte = 1
	memberStateVersionV2 byte = 2
)

// maxAPIAddr bounds MemberState.API (longer ones are not advertised).
const maxAPIAddr = 255

// maxBalancePartition bounds partition numbers and standby counts in a
// MemberState: Kafka partitions are int32, and the bound keeps a decoded
// value an int on every platform.
const maxBalancePartition = math.MaxInt32

// ErrMemberState reports user data that is not an encoded MemberState.
var ErrMemberState = errors.New("pipeline: malformed member state")

// MemberState is what a member advertises in its JoinGroup user data.
type MemberState struct {
	Owned    []int         // partitions this member was ACTIVE for in the previous generation
	Offsets  map[int]int64 // partition -> changelog offset of its local copy (active or standby copies; absent = no local state)
	Standbys int           // standby replicas per partition this member is configured with
	// API is where the member's customer API answers (host:port; "" for
	// none): other members proxy requests for its partitions there.
	API string
}

// EncodeMemberState encodes s compactly for JoinGroup user data: a version
// byte, the standby count, the owned partitions (count, then gaps between
// ascending partition numbers) and the offsets (count, then per ascending
// partition its gap and its offset), all uvarints; with an API address
// (at most 255 bytes, else it is dropped), version 2 and the address's
// length and bytes after them.
//
// The encoding is canonical: Owned is sorted and de-duplicated, partitions
// outside [0, 2^31) and negative offsets (no usable copy) are dropped and
// Standbys is clamped to [0, 2^31). DecodeMemberState returns that
// normalised state.
func EncodeMemberState(s MemberState) []byte {
	owned := make([]int, 0, len(s.Owned))
	for _, p := range s.Owned {
		if p >= 0 && p <= maxBalancePartition {
			owned = append(owned, p)
		}
	}
	slices.Sort(owned)
	owned = slices.Compact(owned)
	held := make([]int, 0, len(s.Offsets))
	for p, off := range s.Offsets {
		if p >= 0 && p <= maxBalancePartition && off >= 0 {
			held = append(held, p)
		}
	}
	slices.Sort(held)

	buf := make([]byte, 0, 1+binary.MaxVarintLen32*(3+len(owned)+len(held))+binary.MaxVarintLen64*len(held))
	api := s.API
	if len(api) > maxAPIAddr {
		api = ""
	}
	if api == "" {
		buf = append(buf, memberStateVersion)
	} else {
		buf = append(buf, memberStateVersionV2)
	}
	buf = binary.AppendUvarint(buf, uint64(min(max(s.Standbys, 0), maxBalancePartition)))
	buf = binary.AppendUvarint(buf, uint64(len(owned)))
	prev := -1
	for _, p := range owned {
		buf = binary.AppendUvarint(buf, uint64(p-prev-1))
		prev = p
	}
	buf = binary.AppendUvarint(buf, uint64(len(held)))
	prev = -1
	for _, p := range held {
		buf = binary.AppendUvarint(buf, uint64(p-prev-1))
		buf = binary.AppendUvarint(buf, uint64(s.Offsets[p]))
		prev = p
	}
	if api != "" {
		buf = binary.AppendUvarint(buf, uint64(len(api)))
		buf = append(buf, api...)
	}
	return buf
}

// DecodeMemberState decodes what EncodeMemberState encoded. Anything else —
// an unknown version, a truncated or overlong value, a partition or offset
// out of range, a non-minimal varint, trailing bytes — is an error wrapping
// ErrMemberState. Empty Owned and Offsets decode as nil.
func DecodeMemberState(b []byte) (MemberState, error) {
	var s MemberState
	if len(b) == 0 {
		return s, fmt.Errorf("%w: empty", ErrMemberState)
	}
	if b[0] != memberStateVersion && b[0] != memberStateVersionV2 {
		return s, fmt.Errorf("%w: unknown version %d", ErrMemberState, b[0])
	}
	r := memberStateReader{b: b[1:]}
	s.Standbys = int(r.uvarint(maxBalancePartition, "standby count"))
	// Every owned partition takes at least one byte, every offset two: the
	// bounds keep garbage from asking for a huge allocation.
	if n := r.uvarint(uint64(len(r.b)), "owned count"); n > 0 {
		s.Owned = make([]int, 0, n)
		prev := -1
		for range n {
			p := r.partition(prev, "owned partition")
			if r.err != nil {
				break
			}
			s.Owned = append(s.Owned, p)
			prev = p
		}
	}
	if n := r.uvarint(uint64(len(r.b)/2), "offset count"); n > 0 {
		s.Offsets = make(map[int]int64, n)
		prev := -1
		for range n {
			p := r.partition(prev, "offset partition")
			off := int64(r.uvarint(math.MaxInt64, "offset"))
			if r.err != nil {
				break
			}
			s.Offsets[p] = off
			prev = p
		}
	}
	if b[0] == memberStateVersionV2 {
		n := r.uvarint(maxAPIAddr, "API address length")
		switch {
		case r.err != nil:
		case n > uint64(len(r.b)):
			r.err = fmt.Errorf("%w: truncated at the API address", ErrMemberState)
		default:
			s.API, r.b = string(r.b[:n]), r.b[n:]
		}
	}
	if r.err != nil {
		return MemberState{}, r.err
	}
	if len(r.b) > 0 {
		return MemberState{}, fmt.Errorf("%w: %d trailing bytes", ErrMemberState, len(r.b))
	}
	// Only non-minimal varints can still differ from the canonical form.
	if !bytes.Equal(EncodeMemberState(s), b) {
		return MemberState{}, fmt.Errorf("%w: not canonically encoded", ErrMemberState)
	}
	return s, nil
}

// memberStateReader reads uvarints, keeping the first error.
type memberStateReader struct {
	b   []byte
	err error
}

func (r *memberStateReader) uvarint(limit uint64, what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	switch {
	case n == 0:
		r.err = fmt.Errorf("%w: truncated at %s", ErrMemberState, what)
		return 0
	case n < 0:
		r.err = fmt.Errorf("%w: %s overflows 64 bits", ErrMemberState, what)
		return 0
	case v > limit:
		r.err = fmt.Errorf("%w: %s %d out of range (max %d)", ErrMemberState, what, v, limit)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// partition reads the gap after partition prev (-1 for the first).
func (r *memberStateReader) partition(prev int, what string) int {
	p := int64(prev) + 1 + int64(r.uvarint(maxBalancePartition, what))
	if r.err == nil && p > maxBalancePartition {
		r.err = fmt.Errorf("%w: %s %d out of range", ErrMemberState, what, p)
	}
	return int(p)
}

// StateBalancer implements kafka.GroupBalancer for journey's consumer group:
// sticky, state-aware and strictly balanced.
//
// Why it exists: kafka-go rebalances eagerly — at every rebalance every
// member gives up every partition and the leader computes the whole
// assignment again — so keeping a partition where its state is has to come
// from the members: each advertises (UserData, at every join) the
// partitions it was active for and the changelog offset of every local
// copy it holds. A partition resumes on a member after that member has read
// the changelog from its local offset to the end, so the freshest copy is
// the shortest restore, and the leader gives each partition to the member
// with the freshest copy — but only within the load balance, which is a
// hard rule: an instance with too many partitions is slower for as long as
// it keeps them, while a longer restore costs once.
//
// Standbys: kafka-go's SyncGroup cannot carry assignment user data, so a
// standby is expressed as an assigned partition of the changelog topic:
// being assigned changelog partition p makes a member a standby for p (it
// tails p's changelog into a warm local copy), while being assigned
// partition p of the input topics makes it p's active owner.
type StateBalancer struct {
	Inputs    []string           // input topic names (co-partitioned)
	Changelog string             // changelog topic name; "" = no standbys are ever assigned
	Local     func() MemberState // called by UserData at every join; nil advertises nothing
	// V2 makes it the StateBalancerProtocolV2 balancer, whose user data
	// carries the API address; without it, StateBalancerProtocol's, which
	// does not.
	V2 bool
}

var _ kafka.GroupBalancer = (*StateBalancer)(nil)

// ProtocolName returns StateBalancerProtocol, or StateBalancerProtocolV2.
func (b *StateBalancer) ProtocolName() string {
	if b.V2 {
		return StateBalancerProtocolV2
	}
	return StateBalancerProtocol
}

// UserData encodes the member's current MemberState (b.Local) for its
// JoinGroup request.
func (b *StateBalancer) UserData() ([]byte, error) {
	var s MemberState
	if b.Local != nil {
		s = b.Local()
	}
	if !b.V2 {
		s.API = ""
	}
	return EncodeMemberState(s), nil
}

// AssignGroups runs on the group leader. It is a pure, deterministic
// function of the members (taken in member ID order, whatever order they
// come in) and the partitions:
//
//   - The partition numbers are those of the first of b.Inputs present in
//     partitions; topics that are neither inputs nor the changelog are
//     ignored. Partition p of every input topic goes to p's active owner.
//   - Balance first: with N partitions and M members every member is active
//     for floor(N/M) or ceil(N/M) partitions.
//   - Within that, each partition goes to the member with the freshest copy
//     (highest advertised changelog offset), ties to the member that owned
//     it in the previous generation, then to the less loaded member, then
//     to the lower member ID. Partitions are placed most contested first:
//     repeatedly, the unplaced partition that would lose the most records
//     of restore by not going to its best still-open member (the gap to its
//     second best) is placed, so a member that is freshest for more
//     partitions than it may own keeps those where it matters most. A
//     partition nobody holds goes to the least loaded member.
//   - Standbys: S = the largest Standbys any member advertises, at most
//     M-1. Each partition gets S standbys, never its active owner,
//     preferring the freshest copies, no member standby for more than
//     ceil(N*S/M) partitions; they are assigned as changelog partitions.
//     With S = 0, b.Changelog = "" or the changelog topic absent from
//     partitions, no changelog partition is assigned.
//
// A member whose user data is missing or not a MemberState holds nothing.
// Every member is in the result, with an (empty) list for every input topic
// present (and for the changelog when standbys are assigned).
func (b *StateBalancer) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	members = uniqueMembers(members)
	out := make(kafka.GroupMemberAssignments, len(members))
	for _, m := range members {
		out[m.ID] = map[string][]int{}
	}
	if len(members) == 0 {
		return out
	}
	byTopic := partitionsByTopic(partitions)
	inputs := b.presentInputs(byTopic)
	if len(inputs) == 0 {
		return out
	}
	ids := byTopic[inputs[0]]
	states := make([]MemberState, len(members))
	for i, m := range members {
		if s, err := DecodeMemberState(m.UserData); err == nil {
			states[i] = s
		}
	}
	pl := newBalancePlan(ids, states)
	owner := pl.assignActive()
	for _, t := range inputs {
		exists := byTopic[t]
		for i, m := range members {
			list := []int{}
			for pi, o := range owner {
				if o == i {
					if _, ok := slices.BinarySearch(exists, ids[pi]); ok {
						list = append(list, ids[pi])
					}
				}
			}
			out[m.ID][t] = list
		}
	}
	b.assignChangelog(out, members, states, byTopic, pl, ids, owner)
	return out
}

// uniqueMembers returns members sorted by ID, each once (the first by
// user data when an ID repeats), so every member computes the same plan.
func uniqueMembers(members []kafka.GroupMember) []kafka.GroupMember {
	members = slices.Clone(members)
	slices.SortStableFunc(members, func(x, y kafka.GroupMember) int {
		return cmp.Or(strings.Compare(x.ID, y.ID), bytes.Compare(x.UserData, y.UserData))
	})
	return slices.CompactFunc(members, func(x, y kafka.GroupMember) bool { return x.ID == y.ID })
}

// partitionsByTopic returns each topic's partition ids, ascending, once.
func partitionsByTopic(partitions []kafka.Partition) map[string][]int {
	byTopic := map[string][]int{}
	for _, p := range partitions {
		byTopic[p.Topic] = append(byTopic[p.Topic], p.ID)
	}
	for t, ids := range byTopic {
		slices.Sort(ids)
		byTopic[t] = slices.Compact(ids)
	}
	return byTopic
}

// presentInputs returns b.Inputs that have partitions, in order, once.
func (b *StateBalancer) presentInputs(byTopic map[string][]int) []string {
	var inputs []string
	for _, t := range b.Inputs {
		if _, ok := byTopic[t]; ok && !slices.Contains(inputs, t) {
			inputs = append(inputs, t)
		}
	}
	return inputs
}

// assignChangelog assigns the standbys, as changelog-topic partitions, to
// out: none when there is no changelog topic, it is absent from byTopic, or
// no member asks for standbys (or there is nobody to be one).
func (b *StateBalancer) assignChangelog(out kafka.GroupMemberAssignments, members []kafka.GroupMember, states []MemberState,
	byTopic map[string][]int, pl *balancePlan, ids, owner []int) {
	if b.Changelog == "" || slices.Contains(b.Inputs, b.Changelog) {
		return
	}
	clog, ok := byTopic[b.Changelog]
	if !ok {
		return
	}
	s := 0
	for _, st := range states {
		s = max(s, st.Standbys)
	}
	s = min(s, len(members)-1)
	if s == 0 {
		return
	}
	eligible := make([]bool, len(ids))
	for pi, p := range ids {
		_, eligible[pi] = slices.BinarySearch(clog, p)
	}
	standby := pl.assignStandbys(owner, s, eligible)
	for i, m := range members {
		list := []int{}
		for pi := range ids {
			if standby[pi][i] {
				list = append(list, ids[pi])
			}
		}
		out[m.ID][b.Changelog] = list
	}
}

// balancePlan is one AssignGroups computation, partitions and members by
// index (partitions ascending, members by ID).
type balancePlan struct {
	n, m int
	// lag[p][m] is how many offsets member m's copy of p is behind the
	// freshest advertised copy (the whole partition, plus one, when m
	// holds none): the restore m needs to resume p.
	lag [][]uint64
	// owned[p][m]: m was p's active owner in the previous generation.
	owned [][]bool
	// held[p]: some member holds a copy of p or owned it.
	held []bool
}

func newBalancePlan(ids []int, states []MemberState) *balancePlan {
	pl := &balancePlan{
		n:     len(ids),
		m:     len(states),
		lag:   make([][]uint64, len(ids)),
		owned: make([][]bool, len(ids)),
		held:  make([]bool, len(ids)),
	}
	index := make(map[int]int, len(ids))
	off := make([][]int64, len(ids))
	for pi, p := range ids {
		index[p] = pi
		pl.lag[pi] = make([]uint64, pl.m)
		pl.owned[pi] = make([]bool, pl.m)
		off[pi] = make([]int64, pl.m)
		for mi := range off[pi] {
			off[pi][mi] = -1
		}
	}
	for mi, s := range states {
		for p, o := range s.Offsets {
			if pi, ok := index[p]; ok && o >= 0 {
				off[pi][mi] = o
			}
		}
		for _, p := range s.Owned {
			if pi, ok := index[p]; ok {
				pl.owned[pi][mi] = true
				pl.held[pi] = true
			}
		}
	}
	for pi := range ids {
		head := slices.Max(off[pi])
		if head >= 0 {
			pl.held[pi] = true
		}
		for mi, o := range off[pi] {
			// head and o are in [-1, MaxInt64]: the difference fits in a
			// uint64 even where it overflows an int64.
			pl.lag[pi][mi] = uint64(head) - uint64(o)
		}
	}
	return pl
}

// balanceRegret is what placing a partition elsewhere than on its best
// candidate would cost, compared lexicographically.
type balanceRegret struct {
	forced bool   // only one candidate is left
	lag    uint64 // restore the second best candidate needs beyond the best's
	sticky bool   // equally fresh, but the best candidate owned it
	held   bool   // somebody holds state for it (placed before those nobody holds)
}

func (r balanceRegret) beats(o balanceRegret) bool {
	if r.forced != o.forced {
		return r.forced
	}
	if r.lag != o.lag {
		return r.lag > o.lag
	}
	if r.sticky != o.sticky {
		return r.sticky
	}
	return r.held && !o.held
}

// assignActive returns each partition's active owner.
func (pl *balancePlan) assignActive() []int {
	owner := make([]int, pl.n)
	for pi := range owner {
		owner[pi] = -1
	}
	load := make([]int, pl.m)
	quota, extra := pl.n/pl.m, pl.n%pl.m // extra: members that may still take quota+1
	open := func(mi int) bool { return load[mi] < quota || (load[mi] == quota && extra > 0) }
	better := func(pi, a, b int) bool {
		if c := cmp.Compare(pl.lag[pi][a], pl.lag[pi][b]); c != 0 {
			return c < 0
		}
		if pl.owned[pi][a] != pl.owned[pi][b] {
			return pl.owned[pi][a]
		}
		if load[a] != load[b] {
			return load[a] < load[b]
		}
		return a < b
	}
	for range pl.n {
		bestP, bestM := -1, -1
		var bestR balanceRegret
		for pi := range pl.n {
			if owner[pi] >= 0 {
				continue
			}
			first, second := -1, -1
			for mi := range pl.m {
				switch {
				case !open(mi):
				case first < 0 || better(pi, mi, first):
					first, second = mi, first
				case second < 0 || better(pi, mi, second):
					second = mi
				}
			}
			r := balanceRegret{forced: second < 0, held: pl.held[pi]}
			if second >= 0 {
				r.lag = pl.lag[pi][second] - pl.lag[pi][first]
				r.sticky = r.lag == 0 && pl.owned[pi][first] && !pl.owned[pi][second]
			}
			if bestP < 0 || r.beats(bestR) {
				bestP, bestM, bestR = pi, first, r
			}
		}
		owner[bestP] = bestM
		if load[bestM] == quota {
			extra--
		}
		load[bestM]++
	}
	return owner
}

// assignStandbys returns standby[p][m]: m is a standby for p. Each eligible
// partition gets s standbys other than its owner, no member more than
// ceil(eligible*s/m). Greedy placement as in assignActive; when it is stuck
// (every member that could take a partition is full) an augmenting path
// moves standbys around, so a partition is left short only when no
// placement at all could give it s.
func (pl *balancePlan) assignStandbys(owner []int, s int, eligible []bool) [][]bool {
	standby := make([][]bool, pl.n)
	need := make([]int, pl.n)
	total := 0
	for pi := range pl.n {
		standby[pi] = make([]bool, pl.m)
		if eligible[pi] {
			need[pi] = s
			total += s
		}
	}
	limit := (total + pl.m - 1) / pl.m
	load := make([]int, pl.m)
	can := func(pi, mi int) bool { return mi != owner[pi] && !standby[pi][mi] && load[mi] < limit }
	better := func(pi, a, b int) bool {
		if c := cmp.Compare(pl.lag[pi][a], pl.lag[pi][b]); c != 0 {
			return c < 0
		}
		if load[a] != load[b] {
			return load[a] < load[b]
		}
		return a < b
	}
	for {
		bestP, bestM, stuck := -1, -1, -1
		var bestR balanceRegret
		for pi := range pl.n {
			if need[pi] == 0 {
				continue
			}
			first, second, candidates := -1, -1, 0
			for mi := range pl.m {
				if !can(pi, mi) {
					continue
				}
				candidates++
				switch {
				case first < 0 || better(pi, mi, first):
					first, second = mi, first
				case second < 0 || better(pi, mi, second):
					second = mi
				}
			}
			if first < 0 {
				if stuck < 0 {
					stuck = pi
				}
				continue
			}
			r := balanceRegret{forced: candidates <= need[pi], held: pl.held[pi]}
			if second >= 0 {
				r.lag = pl.lag[pi][second] - pl.lag[pi][first]
			}
			if bestP < 0 || r.beats(bestR) {
				bestP, bestM, bestR = pi, first, r
			}
		}
		switch {
		case bestP >= 0:
			standby[bestP][bestM] = true
			load[bestM]++
			need[bestP]--
		case stuck >= 0:
			if pl.augmentStandby(stuck, owner, standby, load, limit) {
				need[stuck]--
			} else {
				need[stuck] = 0 // no placement can do better
			}
		default:
			return standby
		}
	}
}

// augmentStandby finds, breadth first, a chain of moves that makes room
// for one more standby of p0: p0 goes to a member x0 that may not yet
// take it, x0 hands one of its standby partitions to x1, and so on to a
// member with room. It applies the chain and reports whether it found one.
func (pl *balancePlan) augmentStandby(p0 int, owner []int, standby [][]bool, load []int, limit int) bool {
	via := make([]int, pl.m)  // the partition a reached member would take
	from := make([]int, pl.m) // the member giving it up, -1 for p0's new standby
	seenM := make([]bool, pl.m)
	seenP := make([]bool, pl.n)
	seenP[p0] = true
	var queue []int
	for mi := range pl.m {
		if mi != owner[p0] && !standby[p0][mi] {
			seenM[mi], via[mi], from[mi] = true, p0, -1
			queue = append(queue, mi)
		}
	}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		if load[x] < limit {
			for y := x; ; {
				standby[via[y]][y] = true
				f := from[y]
				if f < 0 {
					break
				}
				standby[via[y]][f] = false
				y = f
			}
			load[x]++
			return true
		}
		for pi := range pl.n {
			if seenP[pi] || !standby[pi][x] {
				continue
			}
			seenP[pi] = true
			for y := range pl.m {
				if !seenM[y] && y != owner[pi] && !standby[pi][y] {
					seenM[y], via[y], from[y] = true, pi, x
					queue = append(queue, y)
				}
			}
		}
	}
	return false
}
