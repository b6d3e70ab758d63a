package dev.tailor.model;

import dev.tailor.tensor.Device;
import dev.tailor.tensor.Tensors;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Which LoRA adapter each row of a batch uses during one forward pass (S-LoRA / Punica style): every
 * linear layer computes the base product once for all rows, then each adapter's {@code B A x} over
 * its own rows only; rows without an adapter get none. Passed down the forward pass instead of
 * attaching adapters to the layers, so that one model serves many adapters at once while
 * {@link Model#attach} stays the single-adapter path of training and the CLI.
 */
final class RowAdapters {
    /** The rows of one adapter: int64 indices on the model's device, or null for every row of the batch. */
    record Group(Adapter adapter, Tensor rows) {}

    private static final RowAdapters NONE = new RowAdapters(List.of());
    final List<Group> groups;

    private RowAdapters(List<Group> groups) {
        this.groups = groups;
    }

    /** Every row with {@code adapter}, or with none when it is null. */
    static RowAdapters all(Adapter adapter) {
        return adapter == null ? NONE : new RowAdapters(List.of(new Group(adapter, null)));
    }

    /** Row i with {@code perRow.get(i)} (null = the base alone); index tensors are made in the caller's scope. */
    static RowAdapters of(List<Adapter> perRow, Device device) {
        Map<Adapter, List<Long>> rows = new IdentityHashMap<>();
        List<Adapter> order = new ArrayList<>();
        for (int i = 0; i < perRow.size(); i++) {
            Adapter a = perRow.get(i);
            if (a != null) {
                rows.computeIfAbsent(a, k -> {
                    order.add(k);
                    return new ArrayList<>();
                }).add((long) i);
            }
        }
        if (order.size() == 1 && rows.get(order.get(0)).size() == perRow.size()) {
            return all(order.get(0)); // one adapter for the whole batch: no gather and scatter needed
        }
        List<Group> groups = new ArrayList<>();
        for (Adapter a : order) {
            long[] indices = rows.get(a).stream().mapToLong(Long::longValue).toArray();
            groups.add(new Group(a, Tensors.fromLongs(indices, indices.length).to(device.torchDevice(), torch.ScalarType.Long)));
        }
        return new RowAdapters(groups);
    }

    boolean isEmpty() {
        return groups.isEmpty();
    }
}
