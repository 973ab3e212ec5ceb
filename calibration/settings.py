"""Numerical settings of the calibration: thresholds, epsilons, defect rules."""

from spikesim import settings as _sim

# --- calibration ------------------------------------------------------------------
# Everything numeric that decides a fit or a defect flag lives here.
DEFAULT_METHOD = "lsq"
METHODS = ("lsq", "paper", "ratio")
PAPER_DEAD_TIME = 1.0            # steps; the paper's Eq. 9 assumes D = 1/r - 1
DEFAULT_DEAD_TIME = 1.0          # steps; assumed when it cannot be estimated (K < 3, auto levels)
DEAD_TIME_MAX = 3.0              # steps; upper end of the dead-time search
DEAD_TIME_GRID = 31              # coarse grid points over [0, DEAD_TIME_MAX] before refining
DEAD_TIME_TOL = 1e-6             # steps; golden-section tolerance of the refinement
DEAD_TIME_CHI2_CAP = 25.0        # chi^2 scale of the robust dead-time objective log(1 + chi2/cap)
MIN_DENOM = 1e-3                 # 1 - delta*r is floored here (lambda = r / (1 - delta r))
CHARGE_MAX = 1e3                 # lambda never exceeds this (a guard, not a physical value)
MIN_OPERATING_LEVEL = 1e-12      # level units; L + L_d is floored here for gamma and weight
TRUTH_OPERATING_LEVEL = 300.0    # lux; operating level of a calibration built from true maps

# defect rules (bit flags of the calibration file, formats.md)
DEFECT_DEAD = _sim.CALIBRATION_DEFECT_DEAD      # the bits a camera reads back (--camera-maps)
DEFECT_HOT = _sim.CALIBRATION_DEFECT_HOT
DEFECT_UNSTABLE = 4
DEFECT_ILL_CONDITIONED = 8
DEFECT_POOR_FIT = 16
DEFECT_NAMES = {1: "dead", 2: "hot", 4: "unstable", 8: "ill_conditioned", 16: "poor_fit"}
DEAD_GAIN_MAX = 0.5              # dead: response (rate span over the fields) below this fraction of the median (EMVA-style)
HOT_ROBUST_Z = 12.0              # hot: offset above median + this many robust s.d.
HOT_MIN_LEVEL_FRACTION = 0.05    # ... and above this fraction of the level span
RATIO_OUTLIER_Z = 8.0            # ratio method (one field): hot/dead by robust z of the rate
UNSTABLE_Z = 8.0                 # unstable: |A - B| above this many s.d. of the field's A - B
UNSTABLE_MIN_COUNTS = 6          # ... and above this many spikes between the halves
SATURATION_FRACTION = 0.995      # a rate above this fraction of 1/(1 + delta) is saturated
SATURATED_FIELD_FRACTION = 0.5   # a field with more saturated pixels than this is refused
RESPONSE_Z = 5.0                 # a field's mean rate must exceed the previous field's by this many standard errors
PAPER_MIN_CONTRAST = 1e-3        # paper: 1 - D_medium/D_dark below this is ill-conditioned
POOR_FIT_Z = 8.0                 # lsq: RMS normalised residual above this is a poor fit
SIGMA_CLIP = 5.0                 # robust s.d.: clip at this many s.d. ...
SIGMA_CLIP_ITERATIONS = 5        # ... this many times
MIN_COUNT_SD = 0.3               # spikes; the noise model never assumes less count noise
DEAD_TIME_CURVATURE_STEP = 1e-3  # steps; finite-difference step of the dead-time uncertainty
DEAD_TIME_MAX_PIXELS = 10_000    # pixels (an even stride) used to estimate the dead time
NORMAL_MEDIAN_ABS = 0.6745       # median |z| of a standard normal (poor-fit limit scaling)
