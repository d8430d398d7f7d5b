package kafkaio

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// The calls in this file go through the Admin's protocol client, so ctx's
// deadline and cancellation bound all of each call: connecting, the
// request and the answer. A broker address that accepts connections but
// does not speak Kafka fails when ctx ends.

// Partitions returns the number of partitions of each topic (0: the topic
// does not exist) from the cluster's metadata. A topic the metadata
// reports another error for fails with a *TopicError.
func (a *Admin) Partitions(ctx context.Context, topics []string) (map[string]int, error) {
	md, err := a.client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, err
	}
	counts := make(map[string]int, len(topics))
	for _, t := range md.Topics {
		switch {
		case errors.Is(t.Error, kafka.UnknownTopicOrPartition):
			counts[t.Name] = 0
		case t.Error != nil:
			return nil, &TopicError{Topic: t.Name, Err: t.Error}
		default:
			counts[t.Name] = len(t.Partitions)
		}
	}
	return counts, nil
}

// CreateTopics creates topics in one request to the controller; a topic
// that exists already is not an error (its partition count is not
// checked). It returns once the cluster's metadata lists the new topics,
// or when ctx ends.
func (a *Admin) CreateTopics(ctx context.Context, topics ...kafka.TopicConfig) error {
	if len(topics) == 0 {
		return nil
	}
	res, err := a.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: topics})
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range topics {
		if e := res.Errors[t.Topic]; e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create %q: %w", t.Topic, e))
		}
	}
	return errors.Join(errs...)
}

// Close closes the idle connections of the Admin's client (the ones its
// metadata and topic calls opened). The Admin stays usable.
func (a *Admin) Close() {
	if t, ok := a.client.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
}
