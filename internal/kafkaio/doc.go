// Package kafkaio is journey's Kafka client plumbing, on top of kafka-go's
// protocol-level client:
//
//   - Fetcher: the instance's shared fetcher. One fetch request per leader
//     broker at a time for every subscribed partition, a forwarder per
//     subscription that hands records in order to the subscriber's channel,
//     pausing only the partition whose subscriber is behind; leader moves,
//     retention and transaction markers handled (fetcher.go).
//   - Appender: appends one record batch per call to a partition of one
//     topic, all or nothing, acks=all, retried identically until
//     acknowledged; the batches of every partition waiting at one moment
//     share one produce request per leader (appender.go).
//   - Admin: partition counts, topic creation and configuration, partition
//     ids and first/next offsets (admin.go), the same under ctx's deadline
//     throughout for `journey topics` (topics.go); OffsetsAt, the offsets of
//     a point in time (offsets.go).
//   - Tail and NewPartitionReader: reading one partition's log through
//     (reader.go); ErrorLogger, kafka-go's logger on zap (logger.go).
//   - ProbeBrokers: is anything at the bootstrap addresses a Kafka broker?
//     An ApiVersions request to each within a deadline, failing with what
//     answered instead (probe.go); CuttableDialer, a dialer whose
//     connections can all be closed at once (dialer.go).
//   - Security: Dialer, TransportFor, ClientTLS and SASL build the one
//     dialer (TLS, SASL PLAIN or SCRAM) every connection above goes
//     through, directly or as a Transport; a handshake or authentication
//     the probe cannot complete is an error naming the kafka.tls or
//     kafka.sasl setting to fix (security.go).
//
// Start-up calls never hang: each is bounded by a timeout (the dialer's,
// journey's kafka.dial_timeout) and ends as soon as its context does.
//
// What it does not own: journey's protocol. It does not know what a record
// means, what a changelog batch holds or when it is written, which
// partitions an instance owns, or what is committed where and in which
// order; pkg/pipeline decides all of that (DESIGN.md, "Commit protocol" and
// "Scale-out: the changelog protocol") and calls this package for the I/O.
// Nothing here commits consumer group offsets or runs the consumer group.
package kafkaio
