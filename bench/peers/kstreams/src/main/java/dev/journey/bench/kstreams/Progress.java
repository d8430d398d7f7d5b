package dev.journey.bench.kstreams;

import java.time.Instant;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Counts records processed and prints a line per progress mark reached, as bench/peers/progress
 * does: {@code mark <records> <unix nanoseconds>}.
 */
final class Progress {
  private final AtomicLong count = new AtomicLong();
  private final long[] marks;
  private volatile int next;

  Progress(long[] marks) {
    this.marks = marks.clone();
    Arrays.sort(this.marks);
  }

  void add() {
    long n = count.incrementAndGet();
    int i = next;
    if (i < marks.length && n >= marks[i]) {
      reached(n);
    }
  }

  private synchronized void reached(long n) {
    Instant now = Instant.now();
    long nanos = now.getEpochSecond() * 1_000_000_000L + now.getNano();
    while (next < marks.length && marks[next] <= n) {
      System.out.println("mark " + marks[next] + " " + nanos);
      next++;
    }
    System.out.flush();
  }
}
