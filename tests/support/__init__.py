"""Helpers shared by tinygen's tests."""
import os


def examples(n: int) -> int:
    """max_examples for a property test: 4n by default, 40n under TINYGEN_HYPOTHESIS_PROFILE=thorough."""
    return n * 40 if os.environ.get("TINYGEN_HYPOTHESIS_PROFILE") == "thorough" else n * 4
