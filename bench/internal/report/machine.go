package report

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The machine and the software a benchmark ran on. Each returns "" when
// it cannot tell.

// CPUModel returns the first "model name" of /proc/cpuinfo.
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for l := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Kernel returns the kernel's release (/proc/sys/kernel/osrelease).
func Kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Revision returns `git describe --tags --always --dirty` of the working
// tree: the journey source measured.
func Revision(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// BuildCGO returns CGO_ENABLED of this program's build.
func BuildCGO() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "CGO_ENABLED" {
				return s.Value
			}
		}
	}
	return ""
}

// KafkaVersion returns the version of the broker whose jars are in the
// folder libs (kafka_2.13-<version>.jar); the rig exports that folder as
// JOURNEY_TEST_KAFKA_LIBS.
func KafkaVersion(libs string) string {
	if libs == "" {
		return ""
	}
	jars, _ := filepath.Glob(filepath.Join(libs, "kafka_2.13-*.jar"))
	if len(jars) == 0 {
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(filepath.Base(jars[0]), "kafka_2.13-"), ".jar")
}

// RedisVersion returns the redis_version the server reports.
func RedisVersion(ctx context.Context, rdb *redis.Client) (string, error) {
	info, err := rdb.InfoMap(ctx, "server").Result()
	if err != nil {
		return "", err
	}
	return info["Server"]["redis_version"], nil
}
