package dev.journey.bench.kstreams;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;

/**
 * One customer's state: counts per event kind, and per category the views counted, the latest
 * purchase and whether a trigger fired. The rules are bench/peers/workload's (bench/README.md,
 * "The fold").
 */
final class CustomerState {
  final Map<String, Long> events = new HashMap<>();
  final Map<String, Category> categories = new HashMap<>();

  static final class Category {
    long[] views = new long[4]; // event times, Unix ms
    int size;
    long purchased; // Unix ms; 0: none
    boolean fired;

    void addView(long at) {
      if (size == views.length) {
        views = Arrays.copyOf(views, size * 2);
      }
      views[size++] = at;
    }

    /** Removes the views at or before t. */
    void clearUpTo(long t) {
      int kept = 0;
      for (int i = 0; i < size; i++) {
        if (views[i] > t) {
          views[kept++] = views[i];
        }
      }
      size = kept;
    }
  }

  /** Folds e into the state; returns the trigger it fires, or null. */
  Trigger fold(String customerId, Event e, int threshold) {
    events.merge(e.kind(), 1L, Long::sum);
    if (!"track".equals(e.type()) || e.properties() == null) {
      return null;
    }
    long at = Instant.parse(e.timestamp()).toEpochMilli();
    switch (e.event()) {
      case "Product Viewed" -> {
        String name = e.properties().category();
        if (name == null || name.isEmpty() || !("web".equals(e.channel()) || "app".equals(e.channel()))) {
          return null;
        }
        Category c = categories.computeIfAbsent(name, k -> new Category());
        c.addView(at);
        if (!c.fired && c.purchased == 0 && c.size >= threshold) {
          c.fired = true;
          return new Trigger(customerId, name, c.size, e.messageId(), at);
        }
      }
      case "Order Completed" -> {
        if (e.properties().products() == null) {
          return null;
        }
        Set<String> seen = new HashSet<>();
        for (Event.Product p : e.properties().products()) {
          if (p == null || p.category() == null || p.category().isEmpty() || !seen.add(p.category())) {
            continue;
          }
          Category c = categories.computeIfAbsent(p.category(), k -> new Category());
          c.clearUpTo(at);
          c.purchased = Math.max(c.purchased, at);
          if (c.fired && c.size < threshold) {
            c.fired = false;
          }
        }
      }
      default -> {}
    }
    return null;
  }

  /** A compact binary encoding for the state store and its changelog. */
  static final Serde<CustomerState> SERDE =
      Serdes.serdeFrom((topic, s) -> s == null ? null : s.encode(), (topic, b) -> b == null ? null : decode(b));

  byte[] encode() {
    ByteArrayOutputStream buf = new ByteArrayOutputStream(128);
    try (DataOutputStream out = new DataOutputStream(buf)) {
      out.writeInt(events.size());
      for (Map.Entry<String, Long> e : events.entrySet()) {
        out.writeUTF(e.getKey());
        out.writeLong(e.getValue());
      }
      out.writeInt(categories.size());
      for (Map.Entry<String, Category> e : categories.entrySet()) {
        Category c = e.getValue();
        out.writeUTF(e.getKey());
        out.writeInt(c.size);
        for (int i = 0; i < c.size; i++) {
          out.writeLong(c.views[i]);
        }
        out.writeLong(c.purchased);
        out.writeBoolean(c.fired);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return buf.toByteArray();
  }

  static CustomerState decode(byte[] b) {
    CustomerState s = new CustomerState();
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(b))) {
      for (int n = in.readInt(); n > 0; n--) {
        s.events.put(in.readUTF(), in.readLong());
      }
      for (int n = in.readInt(); n > 0; n--) {
        String name = in.readUTF();
        Category c = new Category();
        c.size = in.readInt();
        c.views = new long[Math.max(c.size, 4)];
        for (int i = 0; i < c.size; i++) {
          c.views[i] = in.readLong();
        }
        c.purchased = in.readLong();
        c.fired = in.readBoolean();
        s.categories.put(name, c);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return s;
  }
}
