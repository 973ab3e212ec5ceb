"""Shared fixtures: the third-party data beside the checkout, a tolerance table."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; skip when it is absent (a user's clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"third-party reference data not found at {SHARED_DATA} "
                    "(it sits beside the checkout in CI; a plain clone does not have it)")
    return SHARED_DATA
