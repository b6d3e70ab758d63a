package dev.tailor.data;

import com.hubspot.jinjava.util.HasObjectTruthValue;

/**
 * Python's None inside a Jinjava render. Jinjava uses Java null for both None and "undefined", which
 * Jinja2 tells apart: None renders "None", is defined, and survives |default.
 */
enum JinjaNone implements HasObjectTruthValue {
    NONE;

    @Override
    public boolean getObjectTruthValue() {
        return false;
    }

    @Override
    public String toString() {
        return "None";
    }
}
