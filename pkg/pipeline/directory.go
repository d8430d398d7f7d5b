package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/internal/kafkaio"
)

// Directory tells which member of the consumer group is active for a
// partition and where its customer API answers, so any instance's API can
// answer for any customer by proxying (README, "Looking at one customer").
//
// Members advertise their API address in their group user data
// (MemberState.API, protocol StateBalancerProtocolV2); DescribeGroups
// returns every member's user data and assignment. The answer is cached
// for directoryTTL; a stale one costs a proxy to a member that no longer
// owns the partition, which answers 503 (see pkg/api), never a wrong
// customer.
type Directory struct {
	client *kafka.Client
	group  string
	inputs []string

	mu     sync.Mutex
	at     time.Time
	owners map[int]string // partition -> API address of its active member
	err    error
}

// directoryTTL is how long a Directory answers from its last
// DescribeGroups.
const directoryTTL = time.Second

// ErrNoOwner is Owner's error while no member is active for a partition:
// the group is rebalancing, or the owner advertises no API.
var ErrNoOwner = errors.New("pipeline: no member answers for the partition now")

// NewDirectory returns the Directory of cfg's consumer group.
func NewDirectory(cfg Config) *Directory {
	timeout := cfg.DialTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Directory{
		client: &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: timeout,
			Transport: kafkaio.TransportFor(kafkaio.WithTimeout(cfg.Dialer, timeout), timeout)},
		group:  cfg.GroupID,
		inputs: cfg.Topics,
	}
}

// Owner returns the API address of the member active for partition, or
// an error wrapping ErrNoOwner when there is none now.
func (d *Directory) Owner(ctx context.Context, partition int) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.at) > directoryTTL {
		d.owners, d.err = d.describe(ctx)
		d.at = time.Now()
	}
	if d.err != nil {
		return "", d.err
	}
	addr, ok := d.owners[partition]
	if !ok {
		return "", fmt.Errorf("%w (partition %d)", ErrNoOwner, partition)
	}
	return addr, nil
}

// describe reads the group's members and maps each input partition to its
// active member's advertised API address.
func (d *Directory) describe(ctx context.Context) (map[int]string, error) {
	res, err := d.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{d.group}})
	if err != nil {
		return nil, fmt.Errorf("describing group %q: %w", d.group, err)
	}
	if len(res.Groups) != 1 {
		return nil, fmt.Errorf("describing group %q: %d groups in the answer", d.group, len(res.Groups))
	}
	g := res.Groups[0]
	if g.Error != nil {
		return nil, fmt.Errorf("describing group %q: %w", d.group, g.Error)
	}
	if g.GroupState != "Stable" {
		return nil, fmt.Errorf("%w: group %q is %s", ErrNoOwner, d.group, g.GroupState)
	}
	owners := map[int]string{}
	for _, m := range g.Members {
		st, err := DecodeMemberState(m.MemberMetadata.UserData)
		if err != nil || st.API == "" {
			continue
		}
		for _, t := range m.MemberAssignments.Topics {
			if !slices.Contains(d.inputs, t.Topic) {
				continue
			}
			for _, p := range t.Partitions {
				owners[p] = st.API
			}
		}
	}
	return owners, nil
}
