package dev.journey.bench.kstreams;

import com.fasterxml.jackson.annotation.JsonProperty;

/** The record written to the trigger topic. */
record Trigger(
    @JsonProperty("customer_id") String customerId,
    String category,
    int views,
    @JsonProperty("event_id") String eventId, // the view that crossed the threshold
    long at) {} // its event time, Unix ms
