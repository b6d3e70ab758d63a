package dev.tailor.data;

import com.hubspot.jinjava.el.ExtendedSyntaxBuilder;
import com.hubspot.jinjava.el.ext.AdditionOperator;
import com.hubspot.jinjava.el.ext.CollectionMembershipOperator;
import com.hubspot.jinjava.el.ext.CollectionNonMembershipOperator;
import com.hubspot.jinjava.el.ext.ExtendedParser;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import jinjava.de.odysseus.el.misc.NumberOperations;
import jinjava.de.odysseus.el.misc.TypeConverter;
import jinjava.de.odysseus.el.tree.Bindings;
import jinjava.de.odysseus.el.tree.impl.Builder;
import jinjava.de.odysseus.el.tree.impl.Parser;
import jinjava.de.odysseus.el.tree.impl.ast.AstBinary;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.javax.el.ELContext;

/**
 * Jinjava's expression parser fed with {@link JinjaExpressions#rewrite rewritten} Jinja2 syntax, and
 * with Python's meaning for the operators whose Java meaning differs: "and" yields an operand,
 * "%" formats strings and rounds towards negative infinity, "*" repeats strings and lists, and "+"
 * and "in" fail on the operand types Python rejects (str + dict, x in None) instead of guessing.
 */
final class JinjaParser extends ExtendedParser {
    JinjaParser(Builder builder, String expression) {
        super(builder, JinjaExpressions.rewrite(expression));
        putExtensionHandler(CollectionMembershipOperator.TOKEN, membership(false));
        putExtensionHandler(CollectionNonMembershipOperator.TOKEN, membership(true));
    }

    /** The tree builder that parses every template expression with this parser. */
    static final class SyntaxBuilder extends ExtendedSyntaxBuilder {
        private static final long serialVersionUID = 1L;

        SyntaxBuilder(Feature... features) {
            super(features);
        }

        @Override
        protected Parser createParser(String expression) {
            return new JinjaParser(this, expression);
        }
    }

    @Override
    protected AstBinary createAstBinary(AstNode left, AstNode right, AstBinary.Operator operator) {
        AstBinary.Operator python = operator == AstBinary.AND ? PythonAnd.INSTANCE
                : operator == AdditionOperator.OP ? PythonAdd.INSTANCE
                : operator == AstBinary.MOD ? PythonModulo.INSTANCE
                : operator == AstBinary.MUL ? PythonMultiply.INSTANCE
                : operator;
        return super.createAstBinary(left, right, python);
    }

    /** a and b: a when a is false, else b (Jinjava would give a boolean). */
    private static final class PythonAnd implements AstBinary.Operator {
        static final PythonAnd INSTANCE = new PythonAnd();

        @Override
        public Object eval(Bindings bindings, ELContext context, AstNode left, AstNode right) {
            Object a = left.eval(bindings, context);
            return JinjaPython.truth(a) ? right.eval(bindings, context) : a;
        }

        @Override
        public String toString() {
            return "and";
        }
    }

    private static ExtensionHandler membership(boolean negated) {
        return new ExtensionHandler(ExtensionPoint.CMP) {
            @Override
            public AstNode createAstNode(AstNode... children) {
                return new AstBinary(children[0], children[1], negated ? PythonIn.NOT_IN : PythonIn.IN);
            }
        };
    }

    private static final class PythonAdd extends AstBinary.SimpleOperator {
        static final PythonAdd INSTANCE = new PythonAdd();

        @Override
        protected Object apply(TypeConverter converter, Object a, Object b) {
            if (isNumber(a) && isNumber(b)) {
                return NumberOperations.add(converter, JinjaPython.number(a), JinjaPython.number(b));
            }
            if (a instanceof CharSequence && b instanceof CharSequence) {
                return a.toString() + b;
            }
            if (a instanceof List<?> x && b instanceof List<?> y) {
                List<Object> out = new ArrayList<>(x);
                out.addAll(y);
                return out;
            }
            throw new IllegalArgumentException(a instanceof CharSequence
                    ? "can only concatenate str (not \"" + JinjaPython.typeName(b) + "\") to str"
                    : "unsupported operand type(s) for +: '" + JinjaPython.typeName(a) + "' and '" + JinjaPython.typeName(b) + "'");
        }

        private static boolean isNumber(Object value) {
            return value instanceof Number || value instanceof Boolean;
        }

        @Override
        public String toString() {
            return "+";
        }
    }

    private static final class PythonIn extends AstBinary.SimpleOperator {
        static final PythonIn IN = new PythonIn(false);
        static final PythonIn NOT_IN = new PythonIn(true);
        private final boolean negated;

        private PythonIn(boolean negated) {
            this.negated = negated;
        }

        @Override
        protected Object apply(TypeConverter converter, Object item, Object container) {
            return negated != contains(container, item);
        }

        private static boolean contains(Object container, Object item) {
            if (container == null) {
                return false; // Jinja2's undefined is an empty iterable
            }
            if (container instanceof CharSequence text) {
                if (!(item instanceof CharSequence)) {
                    throw new IllegalArgumentException("'in <string>' requires string as left operand, not "
                            + JinjaPython.typeName(item));
                }
                return text.toString().contains(item.toString());
            }
            if (container instanceof Map<?, ?> map) {
                return map.containsKey(item);
            }
            Iterator<?> items = JinjaPython.iterate(container);
            if (items == null) {
                throw new IllegalArgumentException("argument of type '" + JinjaPython.typeName(container)
                        + "' is not iterable");
            }
            while (items.hasNext()) {
                if (JinjaPython.equal(items.next(), item)) {
                    return true;
                }
            }
            return false;
        }

        @Override
        public String toString() {
            return negated ? "not in" : "in";
        }
    }

    private static final class PythonModulo extends AstBinary.SimpleOperator {
        static final PythonModulo INSTANCE = new PythonModulo();

        @Override
        protected Object apply(TypeConverter converter, Object a, Object b) {
            if (a instanceof String format) {
                return JinjaPython.percentFormat(format, b);
            }
            if (isIntegral(a) && isIntegral(b)) {
                return Math.floorMod(((Number) a).longValue(), ((Number) b).longValue());
            }
            double x = ((Number) a).doubleValue();
            double y = ((Number) b).doubleValue();
            return x - y * Math.floor(x / y);
        }

        @Override
        public String toString() {
            return "%";
        }
    }

    private static final class PythonMultiply extends AstBinary.SimpleOperator {
        static final PythonMultiply INSTANCE = new PythonMultiply();

        @Override
        protected Object apply(TypeConverter converter, Object a, Object b) {
            if (isIntegral(b) && (a instanceof String || a instanceof Collection)) {
                return repeat(a, ((Number) b).intValue());
            }
            if (isIntegral(a) && (b instanceof String || b instanceof Collection)) {
                return repeat(b, ((Number) a).intValue());
            }
            return NumberOperations.mul(converter, a, b);
        }

        private static Object repeat(Object sequence, int times) {
            if (sequence instanceof String s) {
                return s.repeat(Math.max(0, times));
            }
            List<Object> out = new ArrayList<>();
            Collections.nCopies(Math.max(0, times), (Collection<?>) sequence).forEach(out::addAll);
            return out;
        }

        @Override
        public String toString() {
            return "*";
        }
    }

    private static boolean isIntegral(Object value) {
        return value instanceof Integer || value instanceof Long || value instanceof Short || value instanceof Byte;
    }
}
