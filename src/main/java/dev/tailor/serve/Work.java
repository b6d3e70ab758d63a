package dev.tailor.serve;

import dev.tailor.model.Adapter;

/** Work the engine accepted that waits for its turn on the scheduler thread: a generation or a prompt scoring. */
abstract sealed class Work permits Sequence, ScoreJob {
    /** The registered adapter asked for, or null for the base model. */
    final AdapterCache.Entry adapterEntry;
    /** Its weights while this work holds them (between admission and the end), else null. */
    Adapter adapter;

    Work(AdapterCache.Entry adapterEntry) {
        this.adapterEntry = adapterEntry;
    }

    /** Whether nobody waits for this work any more. */
    abstract boolean isCancelled();
}
