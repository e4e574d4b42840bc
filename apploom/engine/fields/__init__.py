"""Field types: how each type's values are coerced, checked, stored, shown and
described."""
