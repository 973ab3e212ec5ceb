"""One dtype-keyed tolerance table for float comparisons in tests.

Values are (rtol, atol). float32 tolerances allow for single-precision
accumulation over ~1e5 terms; float64 for double-precision round-off. The same table
serves numpy and torch dtypes (``tol(torch.float32)`` works), so a torch test on CUDA
uses the same bounds as on CPU.
"""

import numpy as np

TOLERANCES = {
    np.dtype(np.float16): (1e-2, 1e-3),
    np.dtype(np.float32): (1e-5, 1e-6),
    np.dtype(np.float64): (1e-10, 1e-12),
}


def _numpy_dtype(dtype) -> np.dtype:
    """A numpy dtype for a numpy or torch dtype (torch imported only when given one)."""
    if type(dtype).__module__ == "torch":
        import torch

        return np.dtype(torch.empty((), dtype=dtype).numpy().dtype)
    return np.dtype(dtype)


def tol(dtype) -> dict:
    """``dict(rtol=..., atol=...)`` for ``np.testing.assert_allclose`` and
    ``torch.testing.assert_close``, for a numpy or torch dtype."""
    rtol, atol = TOLERANCES[_numpy_dtype(dtype)]
    return {"rtol": rtol, "atol": atol}
