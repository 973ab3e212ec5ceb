"""calibration: fixed-pattern-noise calibration of spike cameras from uniform fields."""
