package pipeline

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"
)

const (
	sbInA       = "journey.in.a"
	sbInB       = "journey.in.b"
	sbChangelog = "journey.changelog"
)

func sbBalancer() *StateBalancer {
	return &StateBalancer{Inputs: []string{sbInA, sbInB}, Changelog: sbChangelog}
}

// sbPartitions lists partitions 0..n-1 of every topic.
func sbPartitions(n int, topics ...string) []kafka.Partition {
	var out []kafka.Partition
	for _, t := range topics {
		for p := range n {
			out = append(out, kafka.Partition{Topic: t, ID: p})
		}
	}
	return out
}

// sbAll is the full subscription: both inputs and the changelog.
func sbAll(n int) []kafka.Partition { return sbPartitions(n, sbInA, sbInB, sbChangelog) }

func sbMember(id string, s MemberState) kafka.GroupMember {
	return kafka.GroupMember{ID: id, Topics: []string{sbInA, sbInB, sbChangelog}, UserData: EncodeMemberState(s)}
}

// sbIDs names members m00, m01, ...
func sbIDs(m int) []string {
	ids := make([]string, m)
	for i := range ids {
		ids[i] = fmt.Sprintf("m%02d", i)
	}
	return ids
}

// sbOffsets is a MemberState.Offsets holding every listed partition at off.
func sbOffsets(off int64, parts ...int) map[int]int64 {
	m := make(map[int]int64, len(parts))
	for _, p := range parts {
		m[p] = off
	}
	return m
}

func sbRange(from, to int) []int {
	var out []int
	for p := from; p < to; p++ {
		out = append(out, p)
	}
	return out
}

// sbCheck asserts the invariants every assignment must hold for n
// partitions of both inputs and s standbys per partition, and returns the
// active and standby partitions per member.
func sbCheck(t *testing.T, got kafka.GroupMemberAssignments, members []kafka.GroupMember, n, s int) (active, standby map[string][]int) {
	t.Helper()
	m := len(members)
	if len(got) != m {
		t.Fatalf("assignment has %d members, want %d: %v", len(got), m, got)
	}
	active, standby = map[string][]int{}, map[string][]int{}
	owner := map[int]string{}
	for _, mem := range members {
		topics, ok := got[mem.ID]
		if !ok {
			t.Fatalf("member %s missing from %v", mem.ID, got)
		}
		a, ok := topics[sbInA]
		if !ok || a == nil {
			t.Fatalf("member %s has no list for %s: %v", mem.ID, sbInA, topics)
		}
		if b := topics[sbInB]; !slices.Equal(a, b) {
			t.Fatalf("member %s: %s %v but %s %v", mem.ID, sbInA, a, sbInB, b)
		}
		for _, p := range a {
			if p < 0 || p >= n {
				t.Fatalf("member %s assigned partition %d of %d", mem.ID, p, n)
			}
			if o, dup := owner[p]; dup {
				t.Fatalf("partition %d active on %s and %s", p, o, mem.ID)
			}
			owner[p] = mem.ID
		}
		if lo, hi := n/m, (n+m-1)/m; len(a) < lo || len(a) > hi {
			t.Fatalf("member %s active for %d partitions %v, want %d..%d", mem.ID, len(a), a, lo, hi)
		}
		active[mem.ID] = a
		sb, ok := topics[sbChangelog]
		if s == 0 {
			if ok {
				t.Fatalf("member %s got changelog partitions %v with no standbys", mem.ID, sb)
			}
			continue
		}
		if !ok || sb == nil {
			t.Fatalf("member %s has no changelog list: %v", mem.ID, topics)
		}
		if !slices.IsSorted(sb) || len(slices.Compact(slices.Clone(sb))) != len(sb) {
			t.Fatalf("member %s standbys %v not sorted and unique", mem.ID, sb)
		}
		if limit := (n*s + m - 1) / m; len(sb) > limit {
			t.Fatalf("member %s standby for %d partitions %v, max %d", mem.ID, len(sb), sb, limit)
		}
		standby[mem.ID] = sb
	}
	if len(owner) != n {
		t.Fatalf("%d of %d partitions have an owner: %v", len(owner), n, active)
	}
	if s == 0 {
		return active, nil
	}
	count := map[int]int{}
	for id, sb := range standby {
		for _, p := range sb {
			if p < 0 || p >= n {
				t.Fatalf("member %s standby for partition %d of %d", id, p, n)
			}
			if owner[p] == id {
				t.Fatalf("member %s is active and standby for partition %d", id, p)
			}
			count[p]++
		}
	}
	for p := range n {
		if count[p] != s {
			t.Fatalf("partition %d has %d standbys, want %d: %v", p, count[p], s, standby)
		}
	}
	return active, standby
}

func TestStateBalancerBalance(t *testing.T) {
	const n = 12
	scenarios := []struct {
		name  string
		state func(i int) MemberState
	}{
		{"no state", func(int) MemberState { return MemberState{} }},
		{"first member freshest for everything", func(i int) MemberState {
			if i == 0 {
				return MemberState{Owned: sbRange(0, n), Offsets: sbOffsets(1000, sbRange(0, n)...)}
			}
			return MemberState{}
		}},
		{"everybody holds everything", func(i int) MemberState {
			return MemberState{Offsets: sbOffsets(int64(100*i), sbRange(0, n)...), Standbys: 1}
		}},
		{"scattered copies", func(i int) MemberState {
			r := rand.New(rand.NewPCG(uint64(i), 7))
			s := MemberState{Offsets: map[int]int64{}, Standbys: 2}
			for p := range n {
				if r.IntN(3) == 0 {
					s.Offsets[p] = r.Int64N(1 << 40)
				}
				if r.IntN(4) == 0 {
					s.Owned = append(s.Owned, p)
				}
			}
			return s
		}},
	}
	for _, m := range []int{1, 2, 3, 5, 13} {
		for _, sc := range scenarios {
			t.Run(fmt.Sprintf("%d members/%s", m, sc.name), func(t *testing.T) {
				var members []kafka.GroupMember
				s := 0
				for i, id := range sbIDs(m) {
					st := sc.state(i)
					s = max(s, st.Standbys)
					members = append(members, sbMember(id, st))
				}
				got := sbBalancer().AssignGroups(members, sbAll(n))
				sbCheck(t, got, members, n, min(s, m-1))
			})
		}
	}
}

// sbCase is one assignment with the active partitions it must produce.
type sbCase struct {
	name    string
	n       int
	members map[string]MemberState
	want    map[string][]int // active partitions per member
}

func (c sbCase) run(t *testing.T) (active, standby map[string][]int) {
	t.Helper()
	var members []kafka.GroupMember
	s := 0
	for _, id := range slices.Sorted(maps.Keys(c.members)) {
		members = append(members, sbMember(id, c.members[id]))
		s = max(s, c.members[id].Standbys)
	}
	got := sbBalancer().AssignGroups(members, sbAll(c.n))
	active, standby = sbCheck(t, got, members, c.n, min(s, len(members)-1))
	if c.want != nil && !reflect.DeepEqual(active, c.want) {
		t.Errorf("active = %v, want %v", active, c.want)
	}
	return active, standby
}

func TestStateBalancerFreshestCopyWins(t *testing.T) {
	tests := []sbCase{{
		name: "fresher copy beats the previous owner",
		n:    2,
		members: map[string]MemberState{
			"a": {Owned: []int{0}, Offsets: map[int]int64{0: 90}},
			"b": {Offsets: map[int]int64{0: 100}},
		},
		want: map[string][]int{"a": {1}, "b": {0}},
	}, {
		name: "any copy beats none",
		n:    3,
		members: map[string]MemberState{
			"a": {},
			"b": {},
			"c": {Offsets: map[int]int64{1: 0}},
		},
		want: map[string][]int{"a": {0}, "b": {2}, "c": {1}},
	}, {
		name: "freshest for more than its share keeps what is hardest to replace",
		n:    2,
		members: map[string]MemberState{
			"a": {Offsets: map[int]int64{0: 100, 1: 1000}},
			"b": {Offsets: map[int]int64{0: 0}},
		},
		want: map[string][]int{"a": {1}, "b": {0}},
	}, {
		name: "the partition with the closest runner-up moves",
		n:    2,
		members: map[string]MemberState{
			"a": {Owned: []int{0, 1}, Offsets: sbOffsets(1000, 0, 1)},
			"b": {Offsets: map[int]int64{0: 990, 1: 10}},
		},
		want: map[string][]int{"a": {1}, "b": {0}},
	}, {
		name: "lag is compared across partitions, not offsets",
		n:    4,
		members: map[string]MemberState{
			"a": {Owned: []int{0, 1, 2, 3}, Offsets: map[int]int64{0: 50, 1: 60, 2: 1_000_000, 3: 2_000_000}},
			"b": {Offsets: map[int]int64{0: 0, 1: 0, 2: 999_990, 3: 1_999_000}},
		},
		// By offsets a would keep 2 and 3 and b restore 50+60; by lag b
		// restores 50+10.
		want: map[string][]int{"a": {1, 3}, "b": {0, 2}},
	}, {
		name: "partitions nobody holds go to the least loaded",
		n:    5,
		members: map[string]MemberState{
			"a": {Offsets: map[int]int64{0: 7}},
			"b": {},
			"c": {},
		},
		want: map[string][]int{"a": {0, 3}, "b": {1, 4}, "c": {2}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t) })
	}
}

func TestStateBalancerSticky(t *testing.T) {
	tests := []sbCase{{
		name: "equal offsets: owners keep their partitions",
		n:    4,
		members: map[string]MemberState{
			"a": {Owned: []int{1, 3}, Offsets: sbOffsets(50, 0, 1, 2, 3)},
			"b": {Owned: []int{0, 2}, Offsets: sbOffsets(50, 0, 1, 2, 3)},
		},
		want: map[string][]int{"a": {1, 3}, "b": {0, 2}},
	}, {
		name: "no offsets advertised: owners keep their partitions",
		n:    4,
		members: map[string]MemberState{
			"a": {Owned: []int{2, 3}},
			"b": {Owned: []int{0, 1}},
		},
		want: map[string][]int{"a": {2, 3}, "b": {0, 1}},
	}, {
		name: "a joining member takes only what balance requires",
		n:    12,
		members: map[string]MemberState{
			"a": {Owned: sbRange(0, 6), Offsets: sbOffsets(80, sbRange(0, 6)...)},
			"b": {Owned: sbRange(6, 12), Offsets: sbOffsets(80, sbRange(6, 12)...)},
			"c": {},
		},
		want: map[string][]int{"a": {0, 1, 2, 3}, "b": {6, 7, 8, 9}, "c": {4, 5, 10, 11}},
	}, {
		name: "a member leaving: survivors keep theirs",
		n:    6,
		members: map[string]MemberState{
			"a": {Owned: []int{0, 3}},
			"b": {Owned: []int{1, 4}},
		},
		want: map[string][]int{"a": {0, 2, 3}, "b": {1, 4, 5}},
	}, {
		name: "an unchanged group keeps its assignment",
		n:    7,
		members: map[string]MemberState{
			"a": {Owned: []int{6, 0}, Offsets: sbOffsets(10, 0, 6, 1, 2)},
			"b": {Owned: []int{1, 5, 2}, Offsets: sbOffsets(10, 1, 5, 2, 3, 4)},
			"c": {Owned: []int{3, 4}, Offsets: sbOffsets(10, 3, 4, 0, 6, 5)},
		},
		want: map[string][]int{"a": {0, 6}, "b": {1, 2, 5}, "c": {3, 4}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t) })
	}
}

func TestStateBalancerFailover(t *testing.T) {
	t.Run("two survivors", func(t *testing.T) {
		// Generation 1: a owned 0-3, b 4-7, c 8-11, one standby each; c is
		// killed. a tailed 8 and 9, b tailed 10 and 11; both also tail one
		// of the other's partitions, less fresh than its owner.
		a := MemberState{Owned: sbRange(0, 4), Offsets: sbOffsets(1000, sbRange(0, 4)...), Standbys: 1}
		a.Offsets[8], a.Offsets[9], a.Offsets[4] = 995, 996, 900
		b := MemberState{Owned: sbRange(4, 8), Offsets: sbOffsets(1000, sbRange(4, 8)...), Standbys: 1}
		b.Offsets[10], b.Offsets[11], b.Offsets[0] = 997, 990, 900
		_, standby := sbCase{
			n:       12,
			members: map[string]MemberState{"a": a, "b": b},
			want:    map[string][]int{"a": {0, 1, 2, 3, 8, 9}, "b": {4, 5, 6, 7, 10, 11}},
		}.run(t)
		want := map[string][]int{"a": {4, 5, 6, 7, 10, 11}, "b": {0, 1, 2, 3, 8, 9}}
		if !reflect.DeepEqual(standby, want) {
			t.Errorf("standby = %v, want %v", standby, want)
		}
	})
	t.Run("freshest standby of three", func(t *testing.T) {
		// d owned 9-11 and is gone; its standby copies are spread unevenly.
		sbCase{
			n: 12,
			members: map[string]MemberState{
				"a": {Owned: []int{0, 1, 2}, Offsets: map[int]int64{0: 9, 1: 9, 2: 9, 9: 500, 11: 20}, Standbys: 2},
				"b": {Owned: []int{3, 4, 5}, Offsets: map[int]int64{3: 9, 4: 9, 5: 9, 9: 499, 10: 800, 11: 100}, Standbys: 2},
				"c": {Owned: []int{6, 7, 8}, Offsets: map[int]int64{6: 9, 7: 9, 8: 9, 10: 799, 11: 700}, Standbys: 2},
			},
			want: map[string][]int{"a": {0, 1, 2, 9}, "b": {3, 4, 5, 10}, "c": {6, 7, 8, 11}},
		}.run(t)
	})
}

func TestStateBalancerStandbys(t *testing.T) {
	t.Run("invariants", func(t *testing.T) {
		for _, n := range []int{1, 4, 12} {
			for _, m := range []int{1, 2, 3, 5, 13} {
				for _, s := range []int{0, 1, 2, 4, 20} {
					t.Run(fmt.Sprintf("%d partitions/%d members/%d standbys", n, m, s), func(t *testing.T) {
						r := rand.New(rand.NewPCG(uint64(n), uint64(m*100+s)))
						var members []kafka.GroupMember
						for i, id := range sbIDs(m) {
							st := MemberState{Offsets: map[int]int64{}}
							if i == m-1 {
								st.Standbys = s // one member advertising is enough
							}
							for p := range n {
								if r.IntN(2) == 0 {
									st.Offsets[p] = r.Int64N(100)
								}
							}
							members = append(members, sbMember(id, st))
						}
						got := sbBalancer().AssignGroups(members, sbAll(n))
						sbCheck(t, got, members, n, min(s, m-1))
					})
				}
			}
		}
	})
	t.Run("freshest copies are preferred", func(t *testing.T) {
		_, standby := sbCase{
			n: 3,
			members: map[string]MemberState{
				"a": {Owned: []int{0}, Offsets: map[int]int64{0: 1000, 1: 990}, Standbys: 1},
				"b": {Owned: []int{1}, Offsets: map[int]int64{1: 1000, 0: 50, 2: 1}, Standbys: 1},
				"c": {Owned: []int{2}, Offsets: map[int]int64{2: 1000, 0: 95}, Standbys: 1},
			},
			want: map[string][]int{"a": {0}, "b": {1}, "c": {2}},
		}.run(t)
		if want := map[string][]int{"a": {1}, "b": {2}, "c": {0}}; !reflect.DeepEqual(standby, want) {
			t.Errorf("standby = %v, want %v", standby, want)
		}
	})
	t.Run("capped at members-1", func(t *testing.T) {
		_, standby := sbCase{
			n: 6,
			members: map[string]MemberState{
				"a": {Standbys: 5},
				"b": {Standbys: 3},
			},
		}.run(t)
		if len(standby["a"]) != 3 || len(standby["b"]) != 3 {
			t.Errorf("standby = %v, want 3 each", standby)
		}
	})
	members := []kafka.GroupMember{sbMember("a", MemberState{Standbys: 1}), sbMember("b", MemberState{Standbys: 1})}
	none := []struct {
		name       string
		balancer   *StateBalancer
		partitions []kafka.Partition
		members    []kafka.GroupMember
	}{
		{"no changelog topic configured", &StateBalancer{Inputs: []string{sbInA, sbInB}}, sbAll(4), members},
		{"changelog topic absent", sbBalancer(), sbPartitions(4, sbInA, sbInB), members},
		{"nobody wants standbys", sbBalancer(), sbAll(4), []kafka.GroupMember{sbMember("a", MemberState{}), sbMember("b", MemberState{})}},
		{"a single member", sbBalancer(), sbAll(4), members[:1]},
	}
	for _, tc := range none {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.balancer.AssignGroups(tc.members, tc.partitions)
			sbCheck(t, got, tc.members, 4, 0)
		})
	}
}

// sbPermutations calls fn with every ordering of xs.
func sbPermutations[T any](xs []T, fn func([]T)) {
	var rec func(k int)
	rec = func(k int) {
		if k == len(xs) {
			fn(slices.Clone(xs))
			return
		}
		for i := k; i < len(xs); i++ {
			xs[k], xs[i] = xs[i], xs[k]
			rec(k + 1)
			xs[k], xs[i] = xs[i], xs[k]
		}
	}
	rec(0)
}

func TestStateBalancerDeterministic(t *testing.T) {
	const n = 12
	r := rand.New(rand.NewPCG(1, 2))
	var members []kafka.GroupMember
	for _, id := range sbIDs(5) {
		st := MemberState{Offsets: map[int]int64{}, Standbys: 2}
		for p := range n {
			switch r.IntN(3) {
			case 0:
				st.Offsets[p] = 40 // ties everywhere
			case 1:
				st.Offsets[p] = r.Int64N(50)
				st.Owned = append(st.Owned, p)
			}
		}
		members = append(members, sbMember(id, st))
	}
	members = append(members, kafka.GroupMember{ID: "garbage", UserData: []byte{9, 9, 9}})
	want := sbBalancer().AssignGroups(members, sbAll(n))
	sbCheck(t, want, members, n, 2)
	parts := sbAll(n)
	runs := 0
	sbPermutations(members, func(ms []kafka.GroupMember) {
		runs++
		slices.Reverse(parts)
		if got := sbBalancer().AssignGroups(ms, parts); !reflect.DeepEqual(got, want) {
			t.Fatalf("order %v: got %v, want %v", sbMemberIDs(ms), got, want)
		}
	})
	if runs != 720 {
		t.Fatalf("%d permutations", runs)
	}
}

func sbMemberIDs(ms []kafka.GroupMember) []string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}

func TestStateBalancerGarbageUserData(t *testing.T) {
	const n = 8
	valid := MemberState{Owned: []int{0, 1, 2, 3}, Offsets: sbOffsets(50, 0, 1, 2, 3), Standbys: 1}
	trailing := append(EncodeMemberState(MemberState{Owned: sbRange(0, n), Offsets: sbOffsets(1e9, sbRange(0, n)...), Standbys: 4}), 0)
	members := []kafka.GroupMember{
		{ID: "a", UserData: []byte{0xff, 0x01}},
		{ID: "b"},
		sbMember("c", valid),
		{ID: "d", UserData: EncodeMemberState(valid)[:3]},
		{ID: "e", UserData: trailing},
	}
	got := sbBalancer().AssignGroups(members, sbAll(n))
	active, _ := sbCheck(t, got, members, n, 1) // e's 4 standbys do not count
	if c := active["c"]; len(c) != 2 || c[0] > 3 || c[1] > 3 {
		t.Errorf("c holds 0-3 and may own 2 of them, got %v", c)
	}
}

func TestStateBalancerTopics(t *testing.T) {
	members := []kafka.GroupMember{sbMember("a", MemberState{Standbys: 1}), sbMember("b", MemberState{})}
	t.Run("other topics are ignored", func(t *testing.T) {
		parts := append(sbAll(4), sbPartitions(50, "unrelated")...)
		got := sbBalancer().AssignGroups(members, parts)
		sbCheck(t, got, members, 4, 1)
		for id, topics := range got {
			if _, ok := topics["unrelated"]; ok {
				t.Errorf("member %s got the unrelated topic: %v", id, topics)
			}
		}
	})
	t.Run("the first input present gives the partitions", func(t *testing.T) {
		b := &StateBalancer{Inputs: []string{"absent", sbInA, sbInB}, Changelog: sbChangelog}
		got := b.AssignGroups(members, sbAll(4))
		sbCheck(t, got, members, 4, 1)
		for id, topics := range got {
			if _, ok := topics["absent"]; ok {
				t.Errorf("member %s got the absent topic: %v", id, topics)
			}
		}
	})
	t.Run("no input present", func(t *testing.T) {
		got := sbBalancer().AssignGroups(members, sbPartitions(4, sbChangelog))
		want := kafka.GroupMemberAssignments{"a": {}, "b": {}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("no partitions", func(t *testing.T) {
		got := sbBalancer().AssignGroups(members, sbAll(0))
		want := kafka.GroupMemberAssignments{"a": {}, "b": {}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("no members", func(t *testing.T) {
		if got := sbBalancer().AssignGroups(nil, sbAll(4)); len(got) != 0 {
			t.Errorf("got %v", got)
		}
	})
}

func TestStateBalancerUserData(t *testing.T) {
	b := sbBalancer()
	if got := b.ProtocolName(); got != "journey-state-v1" {
		t.Errorf("ProtocolName() = %q", got)
	}
	data, err := b.UserData()
	if err != nil {
		t.Fatal(err)
	}
	if s, err := DecodeMemberState(data); err != nil || !reflect.DeepEqual(s, MemberState{}) {
		t.Errorf("UserData with no Local decodes to %+v, %v", s, err)
	}
	local := MemberState{Owned: []int{2}, Offsets: map[int]int64{2: 17, 5: 3}, Standbys: 1}
	b.Local = func() MemberState { return local }
	if data, err = b.UserData(); err != nil {
		t.Fatal(err)
	}
	if s, err := DecodeMemberState(data); err != nil || !reflect.DeepEqual(s, local) {
		t.Errorf("UserData decodes to %+v, %v; want %+v", s, err, local)
	}
}

// sbNormal is what a MemberState decodes to after encoding: the
// normalisation EncodeMemberState documents, computed independently.
func sbNormal(s MemberState) MemberState {
	var out MemberState
	out.Standbys = min(max(s.Standbys, 0), math.MaxInt32)
	for _, p := range s.Owned {
		if p >= 0 && int64(p) <= math.MaxInt32 && !slices.Contains(out.Owned, p) {
			out.Owned = append(out.Owned, p)
		}
	}
	slices.Sort(out.Owned)
	for p, off := range s.Offsets {
		if p >= 0 && int64(p) <= math.MaxInt32 && off >= 0 {
			if out.Offsets == nil {
				out.Offsets = map[int]int64{}
			}
			out.Offsets[p] = off
		}
	}
	return out
}

func TestMemberStateRoundTrip(t *testing.T) {
	big := int64(math.MaxInt32) + 1
	tests := []struct {
		name string
		in   MemberState
	}{
		{"zero", MemberState{}},
		{"empty but not nil", MemberState{Owned: []int{}, Offsets: map[int]int64{}}},
		{"typical", MemberState{Owned: []int{0, 3}, Offsets: map[int]int64{0: 1234, 3: 99, 7: 0}, Standbys: 1}},
		{"extremes", MemberState{Owned: []int{math.MaxInt32, 0}, Offsets: map[int]int64{0: math.MaxInt64, math.MaxInt32: 1}, Standbys: math.MaxInt32}},
		{"unsorted with duplicates", MemberState{Owned: []int{5, 1, 5, 2, 1}}},
		{"out of range dropped", MemberState{
			Owned:    []int{-1, int(big), 4},
			Offsets:  map[int]int64{-3: 1, 2: -1, 5: 6, int(big): 2},
			Standbys: -4,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := EncodeMemberState(tc.in)
			got, err := DecodeMemberState(data)
			if err != nil {
				t.Fatalf("decode %x: %v", data, err)
			}
			if want := sbNormal(tc.in); !reflect.DeepEqual(got, want) {
				t.Fatalf("decode(encode(%+v)) = %+v, want %+v", tc.in, got, want)
			}
		})
	}
	t.Run("compact", func(t *testing.T) {
		s := MemberState{Owned: sbRange(0, 64), Offsets: sbOffsets(1<<30, sbRange(0, 256)...), Standbys: 2}
		if data := EncodeMemberState(s); len(data) > 8+64+256*6 {
			t.Errorf("%d bytes for 64 owned and 256 offsets", len(data))
		}
	})
}

func TestDecodeMemberStateRejects(t *testing.T) {
	uv := func(vs ...uint64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.AppendUvarint(b, v)
		}
		return b
	}
	v1 := func(rest ...[]byte) []byte { return slices.Concat(append([][]byte{{1}}, rest...)...) }
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"version 0", []byte{0, 0, 0, 0}},
		{"version 2", []byte{2, 0, 0, 0}},
		{"json", []byte(`{"owned":[1]}`)},
		{"no standby count", v1()},
		{"no owned count", v1(uv(0))},
		{"no offset count", v1(uv(0, 0))},
		{"trailing byte", v1(uv(0, 0, 0, 0))},
		{"non-minimal varint", v1([]byte{0x80, 0x00}, uv(0, 0))},
		{"varint overflowing 64 bits", v1(bytes.Repeat([]byte{0xff}, 10), []byte{0x01}, uv(0, 0))},
		{"standby count out of range", v1(uv(math.MaxInt32+1, 0, 0))},
		{"owned count beyond the data", v1(uv(0, 5, 0, 0))},
		{"owned truncated", v1(uv(0, 2, 0))},
		{"owned partition out of range", v1(uv(0, 1, math.MaxInt32+1, 0))},
		{"owned gap past the last partition", v1(uv(0, 2, math.MaxInt32, 0, 0))},
		{"offset count beyond the data", v1(uv(0, 0, 3, 0, 0))},
		{"offset truncated", v1(uv(0, 0, 1, 0))},
		{"offset out of range", v1(uv(0, 0, 1, 0, math.MaxInt64+1))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := DecodeMemberState(tc.data)
			if !errors.Is(err, ErrMemberState) {
				t.Fatalf("DecodeMemberState(%x) = %+v, %v; want ErrMemberState", tc.data, s, err)
			}
		})
	}
	if _, err := DecodeMemberState(v1(uv(0, 0, 0))); err != nil {
		t.Fatalf("the smallest valid encoding: %v", err)
	}
}

// sbStateFrom builds a MemberState from arbitrary bytes: the first byte
// gives Standbys, then every 11 bytes a partition (int16), a flags byte
// (1: owned, 2: has an offset) and an offset (int64).
func sbStateFrom(data []byte) MemberState {
	var s MemberState
	if len(data) == 0 {
		return s
	}
	s.Standbys, data = int(int8(data[0])), data[1:]
	for ; len(data) >= 11; data = data[11:] {
		p := int(int16(binary.LittleEndian.Uint16(data)))
		if data[2]&1 != 0 {
			s.Owned = append(s.Owned, p)
		}
		if data[2]&2 != 0 {
			if s.Offsets == nil {
				s.Offsets = map[int]int64{}
			}
			s.Offsets[p] = int64(binary.LittleEndian.Uint64(data[3:]))
		}
	}
	return s
}

func FuzzDecodeMemberState(f *testing.F) {
	for _, s := range []MemberState{
		{},
		{Owned: []int{0, 1, 2}, Offsets: map[int]int64{0: 10, 1: 20, 2: 30, 5: 1}, Standbys: 1},
		{Owned: []int{math.MaxInt32}, Offsets: map[int]int64{math.MaxInt32: math.MaxInt64}, Standbys: 3},
		{Owned: []int{2}, Offsets: map[int]int64{2: 5}, API: "127.0.0.1:9465"},
	} {
		f.Add(EncodeMemberState(s))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0x80, 0x00, 0, 0})
	f.Add([]byte{2, 0, 0, 0})
	f.Add([]byte{1, 0, 1, 3, 2, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{3, 5, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0xa, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Arbitrary bytes: an error or a canonical encoding.
		if s, err := DecodeMemberState(data); err == nil {
			if re := EncodeMemberState(s); !bytes.Equal(re, data) {
				t.Fatalf("%x decodes to %+v, which encodes to %x", data, s, re)
			}
		} else if !errors.Is(err, ErrMemberState) {
			t.Fatalf("%x: error %v does not wrap ErrMemberState", data, err)
		}
		// The same bytes as a state: decode(encode(x)) round trips.
		x := sbStateFrom(data)
		enc := EncodeMemberState(x)
		got, err := DecodeMemberState(enc)
		if err != nil {
			t.Fatalf("decode(encode(%+v)) = %v", x, err)
		}
		if want := sbNormal(x); !reflect.DeepEqual(got, want) {
			t.Fatalf("decode(encode(%+v)) = %+v, want %+v", x, got, want)
		}
	})
}

func BenchmarkStateBalancer(b *testing.B) {
	for _, size := range []struct{ n, m, s int }{{12, 3, 1}, {64, 8, 1}, {256, 16, 2}} {
		b.Run(fmt.Sprintf("%d partitions/%d members/%d standbys", size.n, size.m, size.s), func(b *testing.B) {
			r := rand.New(rand.NewPCG(3, 4))
			var members []kafka.GroupMember
			for _, id := range sbIDs(size.m) {
				st := MemberState{Offsets: map[int]int64{}, Standbys: size.s}
				for p := range size.n {
					if r.IntN(size.m) <= size.s {
						st.Offsets[p] = r.Int64N(1 << 30)
					}
				}
				members = append(members, sbMember(id, st))
			}
			parts := sbAll(size.n)
			bal := sbBalancer()
			for b.Loop() {
				bal.AssignGroups(members, parts)
			}
		})
	}
}

func TestStateBalancerRandomInvariants(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 3000 {
		n, m, s := 1+r.IntN(24), 1+r.IntN(9), r.IntN(8)
		var members []kafka.GroupMember
		for _, id := range sbIDs(m) {
			st := MemberState{Offsets: map[int]int64{}, Standbys: r.IntN(s + 1)}
			for p := range n {
				if r.IntN(3) == 0 {
					st.Offsets[p] = r.Int64N(20)
				}
				if r.IntN(m) == 0 {
					st.Owned = append(st.Owned, p)
				}
			}
			members = append(members, sbMember(id, st))
		}
		want := 0
		for _, mem := range members {
			st, _ := DecodeMemberState(mem.UserData)
			want = max(want, st.Standbys)
		}
		got := sbBalancer().AssignGroups(members, sbAll(n))
		if t.Run(fmt.Sprint(i), func(t *testing.T) { sbCheck(t, got, members, n, min(want, m-1)) }) == false {
			break
		}
	}
}

// The API address rides in version 2 of the user data, which the v2
// balancer sends; the v1 balancer sends version 1 without it, which
// members of earlier versions read. Both decode; an empty or overlong
// address is not advertised.
func TestMemberStateAPIAddress(t *testing.T) {
	s := MemberState{Owned: []int{1}, Offsets: map[int]int64{1: 7}, Standbys: 1, API: "10.0.0.7:9465"}
	for _, v2 := range []bool{true, false} {
		b := &StateBalancer{Local: func() MemberState { return s }, V2: v2}
		data, err := b.UserData()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeMemberState(data)
		if err != nil {
			t.Fatalf("v2 %v: %v", v2, err)
		}
		want := s
		if !v2 {
			want.API = ""
		}
		if !reflect.DeepEqual(got, want) || data[0] != map[bool]byte{true: 2, false: 1}[v2] {
			t.Errorf("v2 %v: version %d, decoded %+v, want %+v", v2, data[0], got, want)
		}
		if name := b.ProtocolName(); name != map[bool]string{true: "journey-state-v2", false: "journey-state-v1"}[v2] {
			t.Errorf("v2 %v: protocol %q", v2, name)
		}
	}
	long := s
	long.API = strings.Repeat("x", maxAPIAddr+1)
	if b := EncodeMemberState(long); b[0] != memberStateVersion {
		t.Errorf("an overlong address is advertised (version %d)", b[0])
	}
	// Version 2 with an empty address is not canonical.
	if _, err := DecodeMemberState(append(EncodeMemberState(MemberState{API: "a"})[:4:4], 0)); err == nil {
		t.Error("version 2 with an empty address decoded")
	}
}
