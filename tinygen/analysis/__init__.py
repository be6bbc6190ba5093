"""Stage 7, analysis: per-op statistics (inspect) over the graph, the op registry and the plan.
Imports every stage below it; only commands import it."""
