"""Field types: what every type is (base), the built-in ones by family (text, numbers,
dates, choices, links) and the registry an engine knows them by (registry). Each type
says how its values are coerced, checked, stored, shown and described."""
