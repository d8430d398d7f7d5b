package dev.journey.bench.kstreams;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * The fold as a Kafka Streams processor over a persistent (RocksDB) key-value store of customer
 * states, cached and backed by its changelog topic as the DSL's stores are. The input is keyed by
 * customer, so no repartition is needed.
 */
final class Fold implements Processor<String, byte[], String, byte[]> {
  static final String STORE = "customers";

  static final ObjectMapper JSON =
      new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

  private final int threshold;
  private final Progress progress;
  private ProcessorContext<String, byte[]> context;
  private KeyValueStore<String, CustomerState> store;

  Fold(int threshold, Progress progress) {
    this.threshold = threshold;
    this.progress = progress;
  }

  static Topology topology(List<String> inputs, String output, int threshold, Progress progress) {
    StreamsBuilder builder = new StreamsBuilder();
    builder.addStateStore(
        Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(STORE), Serdes.String(), CustomerState.SERDE)
            .withCachingEnabled());
    builder.stream(inputs, Consumed.with(Serdes.String(), Serdes.ByteArray()))
        .process(() -> new Fold(threshold, progress), STORE)
        .to(output, Produced.with(Serdes.String(), Serdes.ByteArray()));
    return builder.build();
  }

  @Override
  public void init(ProcessorContext<String, byte[]> context) {
    this.context = context;
    this.store = context.getStateStore(STORE);
  }

  @Override
  public void process(Record<String, byte[]> record) {
    try {
      Event e = JSON.readValue(record.value(), Event.class);
      CustomerState s = store.get(record.key());
      if (s == null) {
        s = new CustomerState();
      }
      Trigger t = s.fold(record.key(), e, threshold);
      store.put(record.key(), s);
      if (t != null) {
        context.forward(record.withValue(JSON.writeValueAsBytes(t)));
      }
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
    progress.add();
  }
}
