package dev.journey.bench.kstreams;

import java.util.List;

/** The part of a Segment Spec message the fold reads; Jackson ignores the rest. */
record Event(String type, String event, String messageId, String timestamp, Context context, Properties properties) {

  record Context(String channel) {}

  record Properties(String category, List<Product> products) {}

  record Product(String category) {}

  /** What the event is counted as: the track event's name, else the message type. */
  String kind() {
    return "track".equals(type) && event != null && !event.isEmpty() ? event : type;
  }

  String channel() {
    return context == null ? null : context.channel();
  }
}
