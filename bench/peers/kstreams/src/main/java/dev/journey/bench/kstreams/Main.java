package dev.journey.bench.kstreams;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

/**
 * The Kafka Streams peer of the benchmark (bench/peers): the benchmark's fold as a Kafka Streams
 * application. Flags (all required but -threads and -props, more StreamsConfig):
 *
 * <pre>
 *   -brokers host:port  -topics in1,in2  -group application.id  -output trigger-topic
 *   -state-dir dir  -threshold 3  -marks 1,N,M  -sample ids-file  -dump out-file
 *   [-threads 2]  [-props name=value,...]
 * </pre>
 *
 * <p>Everything else is Kafka Streams' default (at-least-once, commit.interval.ms 30000, a 10 MB
 * record cache, RocksDB) but the main consumer's fetch.max.wait.ms (see below). It prints progress
 * marks on stdout and, on SIGTERM, dumps the sample customers' states (JSON lines, through an
 * interactive query) before closing.
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> flags = parse(args);
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, flags.get("group"));
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, flags.get("brokers"));
    props.put(StreamsConfig.STATE_DIR_CONFIG, flags.get("state-dir"));
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, flags.getOrDefault("threads", "2"));
    // Every implementation in the bench also reads a second input topic that stays empty until
    // the latency phase. The Java consumer fetches a thread's partitions in one request per broker,
    // asking only for those with nothing buffered: often just the empty ones, which the broker
    // then holds for fetch.max.wait.ms (500 ms). That throttled this app to ~15k events/s with its
    // CPU mostly idle; 10 ms removes the artifact (bench/README.md).
    props.put(StreamsConfig.mainConsumerPrefix(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG), "10");
    for (String kv : flags.getOrDefault("props", "").split(",")) { // more StreamsConfig: k=v,k=v
      if (!kv.isBlank()) {
        String[] p = kv.split("=", 2);
        props.put(p[0].strip(), p[1].strip());
      }
    }
    long[] marks =
        Arrays.stream(flags.get("marks").split(",")).filter(s -> !s.isEmpty()).mapToLong(Long::parseLong).toArray();
    int threshold = Integer.parseInt(flags.get("threshold"));

    KafkaStreams streams =
        new KafkaStreams(
            Fold.topology(List.of(flags.get("topics").split(",")), flags.get("output"), threshold, new Progress(marks)),
            props);
    streams.setUncaughtExceptionHandler(
        e -> {
          System.err.println("kstreams: stream thread failed: " + e);
          e.printStackTrace();
          Runtime.getRuntime().halt(1);
          return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
    CountDownLatch closed = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    dump(streams, flags.get("sample"), flags.get("dump"));
                  } catch (Exception e) {
                    System.err.println("kstreams: dump: " + e);
                  } finally {
                    streams.close(Duration.ofSeconds(60));
                    closed.countDown();
                  }
                }));
    streams.start();
    closed.await();
  }

  /** Writes the sample customers' states, one JSON object a line. */
  private static void dump(KafkaStreams streams, String sample, String out) throws IOException {
    if (sample == null || out == null) {
      return;
    }
    ReadOnlyKeyValueStore<String, CustomerState> store =
        streams.store(StoreQueryParameters.fromNameAndType(Fold.STORE, QueryableStoreTypes.keyValueStore()));
    try (BufferedWriter w = Files.newBufferedWriter(Path.of(out))) {
      for (String id : Files.readAllLines(Path.of(sample))) {
        if (id.isBlank()) {
          continue;
        }
        CustomerState s = store.get(id.strip());
        Map<String, Object> snap = new LinkedHashMap<>();
        snap.put("customer", id.strip());
        Map<String, Object> categories = new HashMap<>();
        if (s == null) {
          snap.put("missing", true);
          snap.put("events", Map.of());
        } else {
          snap.put("events", s.events);
          s.categories.forEach(
              (name, c) ->
                  categories.put(name, Map.of("views", c.size, "purchased", c.purchased != 0, "fired", c.fired)));
        }
        snap.put("categories", categories);
        w.write(Fold.JSON.writeValueAsString(snap));
        w.newLine();
      }
    }
  }

  /** Parses "-name value" pairs. */
  private static Map<String, String> parse(String[] args) {
    Map<String, String> m = new HashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      if (!args[i].startsWith("-")) {
        throw new IllegalArgumentException("want -name value pairs, got " + args[i]);
      }
      m.put(args[i].replaceFirst("^-+", ""), args[i + 1]);
    }
    for (String k : List.of("brokers", "topics", "group", "output", "state-dir", "threshold", "marks")) {
      if (!m.containsKey(k)) {
        throw new IllegalArgumentException("-" + k + " is required");
      }
    }
    return m;
  }
}
