"""Helpers shared by tinygen's tests."""
import os


def examples(n: int) -> int:
    """max_examples for a property test: n by default, 10x under TINYGEN_HYPOTHESIS_PROFILE=thorough."""
    return n * 10 if os.environ.get("TINYGEN_HYPOTHESIS_PROFILE") == "thorough" else n
