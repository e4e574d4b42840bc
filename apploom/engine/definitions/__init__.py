"""What an app says: its YAML or JSON read with the line of every value
(reading), checked against the JSON Schema (json_schema), built into frozen
dataclasses (building, model), then checked across apps (checks). loading runs
these steps in that order; a definition never half-loads."""
