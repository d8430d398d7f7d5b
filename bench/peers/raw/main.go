// Command raw is the baseline of the peer benchmark (bench/peers): a plain
// kafka-go consumer group reading the input topics and decoding every
// value with encoding/json into a map — the ceiling for any processor
// built on this client. It has no state and no output. It runs until
// SIGTERM, printing progress marks (bench/peers/progress).
//
// It is bench/e2e's baseline run as its own process: one goroutine and one
// kafka.Reader per assigned partition, journey's fetch settings
// (config.Default), range assignment.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/journey-dev/journey/bench/peers/progress"
	"github.com/journey-dev/journey/pkg/config"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "raw:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		brokers = flag.String("brokers", os.Getenv("KAFKA_BROKERS"), "Kafka bootstrap brokers, comma-separated")
		topics  = flag.String("topics", "", "input topics, comma-separated")
		group   = flag.String("group", "", "consumer group id")
		marks   = flag.String("marks", "", "progress marks: records processed, comma-separated")
	)
	flag.Parse()
	ms, err := progress.ParseMarks(*marks)
	if err != nil {
		return err
	}
	if *brokers == "" || *topics == "" || *group == "" {
		return errors.New("-brokers, -topics and -group are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	counter := progress.NewCounter(ms, os.Stdout)
	def := config.Default().Kafka
	bs, ts := strings.Split(*brokers, ","), strings.Split(*topics, ",")
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: *group, Brokers: bs, Topics: ts,
		GroupBalancers:    []kafka.GroupBalancer{kafka.RangeGroupBalancer{}},
		HeartbeatInterval: def.SessionTimeout / 5, SessionTimeout: def.SessionTimeout,
		RebalanceTimeout: 30 * time.Second, JoinGroupBackoff: 500 * time.Millisecond,
		StartOffset: kafka.FirstOffset,
	})
	if err != nil {
		return err
	}
	defer cg.Close()
	var gen *kafka.Generation
	for gen == nil { // as journey does, retry until the group is joined
		if gen, err = cg.Next(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintln(os.Stderr, "raw: join group:", err)
			time.Sleep(100 * time.Millisecond)
		}
	}
	errs := make(chan error, 64)
	for topic, parts := range gen.Assignments {
		for _, a := range parts {
			gen.Start(func(gctx context.Context) {
				r := kafka.NewReader(kafka.ReaderConfig{
					Brokers: bs, Topic: topic, Partition: a.ID,
					MinBytes: 1, MaxBytes: def.FetchMaxBytes, MaxWait: def.FetchMaxWait,
					ReadLagInterval: -1, QueueCapacity: 1024,
				})
				defer r.Close()
				if err := r.SetOffset(kafka.FirstOffset); err != nil {
					errs <- err
					return
				}
				for {
					m, err := r.FetchMessage(gctx)
					if err != nil {
						if gctx.Err() == nil {
							errs <- fmt.Errorf("%s/%d: %w", topic, a.ID, err)
						}
						return
					}
					var v map[string]any
					if err := json.Unmarshal(m.Value, &v); err != nil {
						errs <- fmt.Errorf("%s/%d offset %d: %w", topic, a.ID, m.Offset, err)
						return
					}
					if _, ok := v["messageId"]; !ok {
						errs <- fmt.Errorf("%s/%d offset %d: no messageId", topic, a.ID, m.Offset)
						return
					}
					counter.Add(1)
				}
			})
		}
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errs:
		return err
	}
}
