package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/journey-dev/journey/internal/app"
	"github.com/journey-dev/journey/internal/testrig"
	"github.com/journey-dev/journey/pkg/config"
)

// The rig's Redis runs without persistence: journey warns once, naming the
// risk, and refuses to start with redis.require_persistence.
func TestRedisRisk(t *testing.T) {
	addr := testrig.RedisAddr(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := rdb.ConfigGet(ctx, "appendonly").Result()
	if err != nil {
		t.Fatal(err)
	}
	save, _ := rdb.ConfigGet(ctx, "save").Result()
	if m["appendonly"] != "no" || save["save"] != "" {
		t.Skipf("the rig's Redis persists (appendonly %q, save %q)", m["appendonly"], save["save"])
	}
	risk, err := app.RedisRisk(ctx, rdb, 5*time.Second)
	if err != nil || !strings.Contains(risk, "no persistence") || !strings.Contains(risk, "duplicates") {
		t.Fatalf("RedisRisk = %q, %v; want no persistence ... duplicates", risk, err)
	}

	cfg := config.Default()
	cfg.Redis.Addr = addr
	cfg.Kafka.DialTimeout = 5 * time.Second
	core, logs := observer.New(zap.WarnLevel)
	if err := checkRedisRisk(ctx, cfg, rdb, zap.New(core)); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 1 || !strings.Contains(logs.All()[0].Message, "no persistence") {
		t.Fatalf("want one warning naming the risk, got %v", logs.All())
	}

	cfg.Redis.RequirePersistence = true
	err = checkRedisRisk(ctx, cfg, rdb, zap.NewNop())
	if err == nil || !strings.HasPrefix(err.Error(), "redis.require_persistence: Redis at "+addr+": no persistence") {
		t.Fatalf("with require_persistence: %v, want a refusal naming the risk", err)
	}
}

// CONFIG denied (an ACL): a warning that it could not be checked, or a
// refusal with redis.require_persistence.
func TestRedisRiskUnchecked(t *testing.T) {
	addr := testrig.RedisAddr(t)
	admin := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	user, pass := "journey-test-noconfig-"+time.Now().Format("150405.000000000"), "pw"+time.Now().Format("150405.000000000")
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "on", ">"+pass, "~*", "+@all", "-config").Err(); err != nil {
		t.Skipf("ACL SETUSER: %v", err)
	}
	t.Cleanup(func() { _ = admin.Do(context.Background(), "ACL", "DELUSER", user).Err() })
	rdb := redis.NewClient(&redis.Options{Addr: addr, Username: user, Password: pass})
	t.Cleanup(func() { _ = rdb.Close() })

	cfg := config.Default()
	cfg.Redis.Addr = addr
	cfg.Kafka.DialTimeout = 5 * time.Second
	core, logs := observer.New(zap.WarnLevel)
	if err := checkRedisRisk(ctx, cfg, rdb, zap.New(core)); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 1 || !strings.Contains(logs.All()[0].Message, "cannot check") {
		t.Fatalf("want one warning that it cannot check, got %v", logs.All())
	}
	cfg.Redis.RequirePersistence = true
	if err := checkRedisRisk(ctx, cfg, rdb, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "cannot check") {
		t.Fatalf("with require_persistence: %v, want a refusal", err)
	}
}
