package dev.tailor.data;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.el.TruthyTypeConverter;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.InterpreterFactory;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.lang.reflect.Method;
import java.time.Clock;
import java.time.Instant;
import java.time.LocalDateTime;
import jinjava.de.odysseus.el.ExpressionFactoryImpl;
import jinjava.de.odysseus.el.tree.TreeBuilder;
import jinjava.de.odysseus.el.tree.TreeStore;
import jinjava.de.odysseus.el.tree.impl.Builder.Feature;
import jinjava.de.odysseus.el.tree.impl.Cache;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ExpressionFactory;

/**
 * A Jinjava set up to render like transformers' chat-template environment: Jinja2 with trim_blocks
 * and lstrip_blocks (applied by {@link JinjaSource}), loopcontrols, the globals raise_exception and
 * strftime_now, its tojson, and Python semantics where Jinjava's differ.
 */
final class JinjaEnvironment {
    private JinjaEnvironment() {}

    /** raise_exception(msg) in a template; rendering fails with msg. */
    static final class RaisedException extends RuntimeException {
        RaisedException(String message) {
            super(message);
        }
    }

    static Jinjava create(Clock clock) {
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(false) // JinjaSource applies Jinja2's whitespace rules
                .withLstripBlocks(false)
                .withKeepTrailingNewline(true)
                .withNestedInterpretationEnabled(false) // never render "{{" found in message text
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withParseWhitespaceControlStrictly(true) // {{ -3 }} is minus three, not {{- 3 }}
                        .withEvaluateMapKeys(true) // {key: v} uses the variable key, as Python does
                        .withIterateOverMapKeys(true) // for k in dict yields keys
                        .build())
                .withElResolver(new CompositeELResolver() {
                    {
                        add(new JinjaPythonMethods());
                        add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
                    }
                })
                .withInterperterFactory(new PythonStrInterpreterFactory())
                .withDateTimeProvider(clock::millis)
                .withTimeZone(clock.getZone())
                .build();
        Jinjava jinjava = new PythonSyntaxJinjava(config);
        JinjaFilters.filters().forEach(jinjava::registerFilter);
        JinjaFilters.tests().forEach(jinjava::registerExpTest);
        JinjaTags.all().forEach(jinjava::registerTag);
        jinjava.registerFunction(function("raise_exception", "raiseException", Object.class));
        jinjava.registerFunction(function("strftime_now", "strftimeNow", String.class));
        return jinjava;
    }

    static String raiseException(Object message) {
        throw new RaisedException(JinjaPython.str(message));
    }

    /** transformers: datetime.now().strftime(format); "now" comes from the configured clock. */
    static String strftimeNow(String format) {
        JinjavaConfig config = JinjavaInterpreter.getCurrent().getConfig();
        Instant now = Instant.ofEpochMilli(config.getDateTimeProvider().getCurrentTimeMillis());
        return JinjaStrftime.format(LocalDateTime.ofInstant(now, config.getTimeZone()), format);
    }

    private static ELFunctionDefinition function(String name, String javaName, Class<?> parameter) {
        try {
            Method method = JinjaEnvironment.class.getDeclaredMethod(javaName, parameter);
            method.setAccessible(true); // this class is package-private
            return new ELFunctionDefinition("", name, method);
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Template output goes through Python's str(): True, None, ['a', 1], not Java's true, null, [a, 1]. */
    private static final class PythonStrInterpreterFactory implements InterpreterFactory {
        @Override
        public JinjavaInterpreter newInstance(JinjavaInterpreter orig) {
            return new PythonStrInterpreter(orig);
        }

        @Override
        public JinjavaInterpreter newInstance(Jinjava application, Context context, JinjavaConfig renderConfig) {
            return new PythonStrInterpreter(application, context, renderConfig);
        }
    }

    private static final class PythonStrInterpreter extends JinjavaInterpreter {
        PythonStrInterpreter(JinjavaInterpreter orig) {
            super(orig);
        }

        PythonStrInterpreter(Jinjava application, Context context, JinjavaConfig config) {
            super(application, context, config);
        }

        @Override
        public String getAsString(Object value) {
            return JinjaPython.str(value);
        }
    }

    /** Expressions parsed by {@link JinjaParser} and coerced with Python's str() and truth. */
    private static final class PythonSyntaxJinjava extends Jinjava {
        private final ExpressionFactory expressionFactory;

        PythonSyntaxJinjava(JinjavaConfig config) {
            super(config);
            // the features of the EL profile (JEE6) that Jinjava's own factory gets
            TreeBuilder builder = new JinjaParser.SyntaxBuilder(Feature.METHOD_INVOCATIONS, Feature.VARARGS);
            expressionFactory = new ExpressionFactoryImpl(new TreeStore(builder, new Cache(1000)), new PythonTypeConverter());
        }

        @Override
        public ExpressionFactory getExpressionFactory() {
            return expressionFactory;
        }
    }

    /** String concatenation (~) and boolean operators with Python's str() and truth. */
    private static final class PythonTypeConverter extends TruthyTypeConverter {
        private static final long serialVersionUID = 1L;

        @Override
        protected String coerceToString(Object value) {
            return JinjaPython.str(value);
        }

        @Override
        protected Boolean coerceToBoolean(Object value) {
            return JinjaPython.truth(value);
        }
    }
}
