// Package embedded runs, inside the journey process, the services `journey
// dev` needs: a Kafka-protocol broker (franz-go's kfake) and a Redis server
// (miniredis), both on 127.0.0.1 and both speaking the real wire protocols,
// so journey's own Kafka and Redis clients, kcat and redis-cli work against
// them unchanged.
//
// They keep everything in memory and are meant for development and demos:
// one broker, no replication, no persistence.
package embedded

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Topic is a topic to create, with its partition count.
type Topic struct {
	Name       string
	Partitions int
}

// Config says where the services listen and what the broker holds.
type Config struct {
	// KafkaPort and RedisPort are the 127.0.0.1 ports to listen on; 0 picks
	// a free one. KafkaFlag and RedisFlag name the setting in errors (e.g.
	// "--kafka-port").
	KafkaPort, RedisPort int
	KafkaFlag, RedisFlag string
	// Topics are created before Start returns.
	Topics []Topic
}

// Services are the running broker and Redis server.
type Services struct {
	kafka *kfake.Cluster
	redis *miniredis.Miniredis
}

// ErrPortInUse is wrapped by Start's error when a port is taken.
var ErrPortInUse = errors.New("embedded: port in use")

// Start starts the broker and the Redis server and creates the topics.
// A port that is taken fails with an error naming the port and its
// setting, wrapping ErrPortInUse.
func Start(cfg Config) (*Services, error) {
	if cfg.KafkaFlag == "" {
		cfg.KafkaFlag = "Kafka port"
	}
	if cfg.RedisFlag == "" {
		cfg.RedisFlag = "Redis port"
	}
	ln, err := listen(cfg.KafkaPort, cfg.KafkaFlag, "Kafka")
	if err != nil {
		return nil, err
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID("journey-dev"),
		// kfake asks for one listener per broker: hand it the one bound
		// above, so a taken port is reported before anything starts.
		kfake.ListenFn(func(string, string) (net.Listener, error) {
			if ln == nil {
				return nil, errors.New("embedded: kfake asked for a second listener")
			}
			l := ln
			ln = nil
			return l, nil
		}),
	}
	for _, t := range cfg.Topics {
		if t.Partitions < 1 {
			return nil, fmt.Errorf("embedded: topic %q: partitions must be >= 1, got %d", t.Name, t.Partitions)
		}
		opts = append(opts, kfake.SeedTopics(int32(t.Partitions), t.Name))
	}
	k, err := kfake.NewCluster(opts...)
	if err != nil {
		if ln != nil {
			_ = ln.Close()
		}
		return nil, fmt.Errorf("embedded: start Kafka broker: %w", err)
	}
	// miniredis binds its own listener: check the port first for a clear
	// error (a race with another process in between is reported by
	// StartAddr, less nicely).
	if cfg.RedisPort != 0 {
		l, err := listen(cfg.RedisPort, cfg.RedisFlag, "Redis")
		if err != nil {
			k.Close()
			return nil, err
		}
		_ = l.Close()
	}
	r := miniredis.NewMiniRedis()
	if err := r.StartAddr(net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.RedisPort))); err != nil {
		k.Close()
		return nil, fmt.Errorf("%s %d: start Redis: %w", cfg.RedisFlag, cfg.RedisPort, err)
	}
	// TTLs are kept but not run down: miniredis's wall-clock expiry
	// (ClockTTL) walks every key on every command, which stalls under
	// journey's context and trigger-id keys, and no TTL journey sets (days)
	// ends within a dev session anyway.
	return &Services{kafka: k, redis: r}, nil
}

// listen binds 127.0.0.1:port, naming the setting when the port is taken.
func listen(port int, flag, what string) (net.Listener, error) {
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("%s %d: not a port (0 picks a free one)", flag, port)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s %d: port 127.0.0.1:%d is already in use (is another %s running?); choose another with %s, or 0 for any free port: %w",
				flag, port, port, what, flag, ErrPortInUse)
		}
		return nil, fmt.Errorf("%s %d: listen: %w", flag, port, err)
	}
	return ln, nil
}

// KafkaAddr returns the broker's host:port.
func (s *Services) KafkaAddr() string { return s.kafka.ListenAddrs()[0] }

// RedisAddr returns the Redis server's host:port.
func (s *Services) RedisAddr() string { return s.redis.Addr() }

// Close stops both services. Their data is gone.
func (s *Services) Close() {
	s.redis.Close()
	s.kafka.Close()
}
