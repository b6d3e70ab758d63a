package dev.tailor.data;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.tag.ElseTag;
import com.hubspot.jinjava.lib.tag.ForTag;
import com.hubspot.jinjava.lib.tag.IfTag;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import com.hubspot.jinjava.tree.parse.TagToken;
import com.hubspot.jinjava.util.ForLoop;
import com.hubspot.jinjava.util.ObjectIterator;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import org.apache.commons.lang3.tuple.Pair;

/** Tags that Jinja2 (as transformers configures it) has and Jinjava lacks or treats differently. */
final class JinjaTags {
    /** Items of the for loops being rendered on this thread, innermost first, for loop.previtem/nextitem. */
    private static final ThreadLocal<Deque<List<Object>>> LOOP_ITEMS = ThreadLocal.withInitial(ArrayDeque::new);

    private JinjaTags() {}

    static List<Tag> all() {
        return List.of(new GenerationTag(), new PythonTruthIfTag(), new PythonForTag());
    }

    /** loop.previtem (offset -1) or loop.nextitem (+1) of the innermost loop; undefined past either end. */
    static Object neighbour(ForLoop loop, int offset) {
        List<Object> items = LOOP_ITEMS.get().peek();
        int index = loop.getIndex0() + offset;
        return items == null || index < 0 || index >= items.size() ? null : items.get(index);
    }

    /** transformers' {% generation %} marks assistant text for loss masks; rendering passes it through. */
    static final class GenerationTag implements Tag {
        @Override
        public String getName() {
            return "generation";
        }

        @Override
        public String getEndTagName() {
            return "endgeneration";
        }

        @Override
        public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
            return render(tagNode.getChildren(), interpreter);
        }
    }

    /** Jinjava's if would treat the string "false" as false; Jinja2 uses Python's truth. */
    static final class PythonTruthIfTag extends IfTag {
        @Override
        public boolean isPositiveIfElseNode(TagNode tagNode, JinjavaInterpreter interpreter) {
            return JinjaPython.truth(interpreter.resolveELExpression(tagNode.getHelpers(), tagNode.getLineNumber()));
        }
    }

    /**
     * Jinja2's for loop: Jinjava's has no loop.previtem/nextitem, ignores "for x in items if condition"
     * and renders an {% else %} branch in every iteration instead of for an empty loop.
     */
    static final class PythonForTag extends ForTag {
        @Override
        public String interpretUnchecked(TagNode tagNode, JinjavaInterpreter interpreter) {
            Pair<List<String>, String> varsAndExpression = getLoopVarsAndExpression((TagToken) tagNode.getMaster());
            List<String> loopVars = varsAndExpression.getLeft();
            String expression = varsAndExpression.getRight();
            int condition = JinjaExpressions.loopCondition(expression);
            String itemsExpression = condition < 0 ? expression : expression.substring(0, condition);
            List<Object> items = items(interpreter.resolveELExpression(itemsExpression, tagNode.getLineNumber()));
            if (condition >= 0) {
                String test = expression.substring(condition + 2);
                items.removeIf(item -> !satisfies(test, loopVars, item, tagNode, interpreter));
            }
            List<Node> children = tagNode.getChildren();
            int elseAt = indexOfElse(children);
            List<Node> elseBranch = elseAt < 0 ? List.of() : new ArrayList<>(children.subList(elseAt, children.size()));
            if (items.isEmpty()) {
                return render(elseBranch.stream().skip(1).toList(), interpreter);
            }
            children.removeAll(elseBranch); // the parsed tree belongs to this render alone
            Deque<List<Object>> stack = LOOP_ITEMS.get();
            stack.push(items);
            try {
                return renderForCollection(tagNode, interpreter, loopVars, items);
            } finally {
                stack.pop();
                children.addAll(elseBranch);
            }
        }

        private static List<Object> items(Object collection) {
            List<Object> items = new ArrayList<>();
            ForLoop loop = ObjectIterator.getLoop(collection);
            while (loop.hasNext()) {
                items.add(loop.next());
            }
            return items;
        }

        /** The loop condition for one item, with the loop variables bound as the loop binds them. */
        private static boolean satisfies(String test, List<String> loopVars, Object item, TagNode tagNode,
                JinjavaInterpreter interpreter) {
            try (JinjavaInterpreter.InterpreterScopeClosable scope = interpreter.enterScope()) {
                Object value = interpreter.wrap(item);
                for (int i = 0; i < loopVars.size(); i++) {
                    interpreter.getContext().put(loopVars.get(i), loopVars.size() == 1 ? value : unpack(value, i));
                }
                return JinjaPython.truth(interpreter.resolveELExpression(test, tagNode.getLineNumber()));
            }
        }

        private static Object unpack(Object value, int index) {
            if (value instanceof Map.Entry<?, ?> entry) {
                return index == 0 ? entry.getKey() : entry.getValue();
            }
            return value instanceof List<?> list && index < list.size() ? list.get(index) : null;
        }

        private static int indexOfElse(List<Node> children) {
            for (int i = 0; i < children.size(); i++) {
                if (children.get(i) instanceof TagNode tag && tag.getName().equals(ElseTag.TAG_NAME)) {
                    return i;
                }
            }
            return -1;
        }
    }

    private static String render(List<Node> nodes, JinjavaInterpreter interpreter) {
        StringBuilder out = new StringBuilder();
        nodes.forEach(node -> out.append(node.render(interpreter).getValue()));
        return out.toString();
    }
}
