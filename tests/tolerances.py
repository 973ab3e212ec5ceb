"""One dtype-keyed tolerance table for float comparisons in tests.

Values are (rtol, atol). float32 tolerances allow for single-precision
accumulation over ~1e5 terms; float64 for double-precision round-off.
"""

import numpy as np

TOLERANCES = {
    np.dtype(np.float16): (1e-2, 1e-3),
    np.dtype(np.float32): (1e-5, 1e-6),
    np.dtype(np.float64): (1e-10, 1e-12),
}


def tol(dtype) -> dict:
    """``dict(rtol=..., atol=...)`` for ``np.testing.assert_allclose``."""
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    return {"rtol": rtol, "atol": atol}
