package org.crossgpu;

import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

/**
 * One native handle with one owner: close() frees it exactly once, from any thread; a Cleaner
 * frees it if the owner becomes unreachable without being closed. After close, get() throws
 * ClosedException, so a closed object can never reach freed native memory.
 */
final class Handle implements AutoCloseable {
    private static final Cleaner CLEANER = Cleaner.create();

    private final AtomicLong value;
    private final Cleaner.Cleanable cleanable;

    Handle(long handle, LongConsumer free, Object owner) {
        value = new AtomicLong(handle);
        AtomicLong shared = value;  // the cleaning action must not capture the owner
        cleanable = CLEANER.register(owner, () -> {
            long h = shared.getAndSet(0);
            if (h != 0) free.accept(h);
        });
    }

    long get() {
        long h = value.get();
        if (h == 0) throw new Exceptions.ClosedException("the object is closed");
        return h;
    }

    boolean closed() { return value.get() == 0; }

    @Override public void close() { cleanable.clean(); }
}
