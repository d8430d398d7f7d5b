package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisRisk reads Redis's appendonly, save and maxmemory-policy (CONFIG
// GET, within timeout) and names what they risk, "" when nothing: with no
// persistence (appendonly no and save "") a Redis restart loses the
// streams and the trigger-id keys, and with an evicting maxmemory-policy
// (anything but noeviction: the volatile-* policies evict the id keys,
// which expire) memory pressure loses the id keys; either way a trigger
// delivered again afterwards (a redelivered outbox batch, a replay) is
// not recognised, so it is duplicated. RDB snapshots (save) count as
// persistence, though a restart loses the writes since the last one.
//
// The error says CONFIG GET failed (an ACL denying it, a managed Redis
// that renames it): the risk could not be checked.
func RedisRisk(ctx context.Context, rdb *redis.Client, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	get := func(name string) (string, error) {
		m, err := rdb.ConfigGet(ctx, name).Result()
		if err != nil {
			return "", fmt.Errorf("redis: CONFIG GET %s: %w", name, err)
		}
		v, ok := m[name]
		if !ok {
			return "", fmt.Errorf("redis: CONFIG GET %s: no such parameter", name)
		}
		return v, nil
	}
	aof, err := get("appendonly")
	if err != nil {
		return "", err
	}
	save, err := get("save")
	if err != nil {
		return "", err
	}
	policy, err := get("maxmemory-policy")
	if err != nil {
		return "", err
	}
	var risks []string
	if aof != "yes" && strings.TrimSpace(save) == "" {
		risks = append(risks, `no persistence (appendonly no, save ""): a Redis restart loses the trigger streams and the trigger-id keys`)
	}
	if policy != "noeviction" {
		risks = append(risks, fmt.Sprintf("maxmemory-policy %s evicts keys under memory pressure, trigger-id keys among them", policy))
	}
	if len(risks) == 0 {
		return "", nil
	}
	return strings.Join(risks, "; ") + "; a trigger delivered again after that (outbox redelivery, replay) is not recognised as delivered: duplicates", nil
}
