package org.crossgpu;

import java.util.OptionalDouble;
import java.util.OptionalLong;

/**
 * A device's metrics at one moment. A value the platform does not offer is empty, with the reason
 * as its source: nothing here is a made-up default.
 */
public record Telemetry(Bytes memoryTotal, Bytes memoryUsed, Bytes memoryFree, Bytes memoryBudget,
                        Reading temperatureCelsius, Reading powerWatts, Reading clockMhz, Reading utilization) {

    /** A byte count and where it was read (or why there is none). */
    public record Bytes(OptionalLong value, String source) {
        public boolean measured() { return value.isPresent(); }
    }

    /** A sensor reading and where it was read (or why there is none). Utilization is 0..1. */
    public record Reading(OptionalDouble value, String source) {
        public boolean measured() { return value.isPresent(); }
    }

    /** From Native.deviceTelemetry: {long[4] bytes, double[4] readings, boolean[8] measured, String[8] sources}. */
    static Telemetry of(Object[] raw) {
        long[] bytes = (long[]) raw[0];
        double[] readings = (double[]) raw[1];
        boolean[] measured = (boolean[]) raw[2];
        String[] sources = (String[]) raw[3];
        Bytes[] b = new Bytes[4];
        Reading[] r = new Reading[4];
        for (int i = 0; i < 4; i++) {
            b[i] = new Bytes(measured[i] ? OptionalLong.of(bytes[i]) : OptionalLong.empty(), sources[i]);
            r[i] = new Reading(measured[4 + i] ? OptionalDouble.of(readings[i]) : OptionalDouble.empty(), sources[4 + i]);
        }
        return new Telemetry(b[0], b[1], b[2], b[3], r[0], r[1], r[2], r[3]);
    }
}
