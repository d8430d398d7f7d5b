package kafkaio

import (
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// ErrorLogger adapts log to kafka-go's Printf logger (ConsumerGroupConfig,
// ReaderConfig): kafka-go's error messages become warnings of a logger
// named "kafka".
func ErrorLogger(log *zap.Logger) kafka.Logger {
	return kafkaLogger{log.Sugar().Named("kafka")}
}

type kafkaLogger struct{ l *zap.SugaredLogger }

func (k kafkaLogger) Printf(format string, args ...any) { k.l.Warnf(format, args...) }
