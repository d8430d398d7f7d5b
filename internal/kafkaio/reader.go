package kafkaio

import (
	"context"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// NewPartitionReader returns a kafka-go Reader of one partition of topic,
// sized for reading a log through (16 MiB fetches, a deep queue, no lag
// reports). errLog receives kafka-go's error messages (nil: none).
func NewPartitionReader(brokers []string, dialer *kafka.Dialer, topic string, partition int, errLog kafka.Logger) *kafka.Reader {
	cfg := kafka.ReaderConfig{
		Brokers: brokers, Dialer: dialer, Topic: topic, Partition: partition,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 500 * time.Millisecond, QueueCapacity: 4096, ReadLagInterval: -1,
	}
	if errLog != nil {
		cfg.ErrorLogger = errLog
	}
	return kafka.NewReader(cfg)
}

// Tail reads one partition of topic from offset from on a goroutine of its
// own and sends its records, in order, to the returned channel: until ctx
// ends, or, when until >= 0, once the record before until has been sent.
// A failed fetch is logged and retried. The channel is closed when the
// goroutine stops; stop ends it and waits for it (and its reader) to end.
func Tail(ctx context.Context, brokers []string, dialer *kafka.Dialer, log *zap.Logger, topic string, partition int,
	from, until int64) (_ <-chan kafka.Message, stop func(), _ error) {
	r := NewPartitionReader(brokers, dialer, topic, partition, ErrorLogger(log))
	if err := r.SetOffset(from); err != nil {
		_ = r.Close()
		return nil, nil, err
	}
	fctx, cancel := context.WithCancel(ctx)
	msgs := make(chan kafka.Message, 4096)
	var done sync.WaitGroup
	done.Go(func() {
		defer close(msgs)
		for {
			m, err := r.FetchMessage(fctx)
			if err != nil {
				if fctx.Err() != nil {
					return
				}
				log.Warn("fetch failed; retrying", zap.String("topic", topic), zap.Int("partition", partition), zap.Error(err))
				select {
				case <-fctx.Done():
					return
				case <-time.After(200 * time.Millisecond):
				}
				continue
			}
			select {
			case msgs <- m:
			case <-fctx.Done():
				return
			}
			if until >= 0 && m.Offset+1 >= until {
				return
			}
		}
	})
	return msgs, func() {
		cancel()
		_ = r.Close()
		done.Wait()
	}, nil
}
