package dev.tailor.serve;

/**
 * Where a request goes: the model it named, and what generates for it.
 *
 * @param model      the request's {@code model} as sent (base, an adapter, or an experiment)
 * @param target     {@link ModelCatalog#BASE} or an adapter's name
 * @param experiment null unless {@code model} named an experiment; then {@code variant} is the assigned arm
 */
public record ModelRoute(String model, String target, Experiment experiment, Variant variant) {
    public boolean isBase() {
        return target.equals(ModelCatalog.BASE);
    }
}
