"""Numerical settings of spikesim: one place for thresholds, epsilons and flags.

Kernels read these at import; nothing numeric is a literal inside a kernel.
"""

# --- stream I/O ------------------------------------------------------------
DEFAULT_WIDTH = 400
DEFAULT_HEIGHT = 250
DEFAULT_READOUT_HZ = 20_000.0
HEAD_CROP_WIDTH = 416          # real first-generation cameras: 16 header columns
HEAD_CROP_COLUMNS = 16
KNOWN_RESOLUTIONS = ((400, 250), (416, 250), (1000, 1000))   # (W, H)
MAX_FRAME_SIDE = 65536     # px: the largest frame side a stream or sidecar may state
COUNT_CHUNK_FRAMES = 256       # frames per chunk when counting spikes (chunk stays in L2/L3)
POPCOUNT_BLOCK_WORDS = 64      # 64-bit words per parallel popcount task (accumulators in L1)
POPCOUNT_PARALLEL_BYTES = 8 << 20   # chunks smaller than this are counted on one thread
NUMBA_CACHE = True

# --- sensor -------------------------------------------------------------------
# What each random stream is for (seed purposes): the one table in spikesim/rng.py.
# Integrate-and-fire (spikesim/sensor.py, spikesim/_sensor_kernels.py).
SATURATION_MARGIN = 2.0 ** -20  # after a reset V <= theta - margin (< theta, physics §4)
THETA_FLOOR = 0.05             # thresholds never fall below this (normals span +-5.29: unreachable for theta_sd < 0.18)
SENSOR_BLOCK_BYTES = 64        # output bytes (8 px each) one kernel task simulates over all steps
# Flags that keep results bit-identical to the numpy reference: no reassociation and
# no FMA contraction ("fast" would allow both); these only drop NaN/inf/-0 handling.
SENSOR_FASTMATH = frozenset({"nnan", "ninf", "nsz"})
RESET_MODES = ("subtract", "zero")
SENSOR_BACKENDS = ("numba", "numpy")

# --- camera: fixed pattern (spikesim/fpn.py, spikesim/camera_maps.py; physics.md §4b) ------
K_SCALE_REFERENCE = 1.0 / 800.0   # thresholds/(lux step): what a dataset's camera_ranges.k_scale multiplies
GAIN_FLOOR = 0.05              # a structured camera's summed relative gain is clipped below here (5 s.d. at a total s.d. of 0.19)
SHADING_TRUNCATE = 4.0         # smooth shading: Gaussian support radius in units of shading_scale
CALIBRATION_DEFECT_DEAD = 1    # bit flags of a calibration file's `defects` (formats.md "Calibration file")
CALIBRATION_DEFECT_HOT = 2
IMPORTED_DEAD_TIME_TOL = 0.25  # steps: a calibrated dead time further than this from a whole step is refused
# Statistics of a fixed pattern (spikesim/fpn_stats.py), as the real camera of issue 16 was measured:
PATTERN_SHADING_SIGMA = 8.0    # px: the smooth part is the row/column residual smoothed by this Gaussian
PATTERN_NEIGHBOUR_LAGS = (1, 16)   # px: neighbour correlations reported at these distances
PATTERN_TAIL_FACTOR = 3.0      # dark-offset tail: pixels above this many times the median offset

# --- optics and rendering -----------------------------------------------------
GAUSS_TRUNCATE = 4.0           # Gaussian PSF support: radius = ceil(GAUSS_TRUNCATE * sigma)
DISK_SUPERSAMPLE = 8           # sub-samples per pixel side for the anti-aliased disk PSF
LAYER_SIGMA_STEP = 0.25        # px of defocus sigma between depth layers (physics.md §3)
MAX_LAYERS = 256               # more layers than this: the step is widened (with a warning)
COVERAGE_EPS = 1e-6            # coverage below this is treated as empty in out / cov
MIN_BLUR_SIGMA = 1e-3          # px; below this a blur is the identity
DEPTH_MIN_M = 0.3              # procedural scene depth range (physics.md §4b), metres
DEPTH_MAX_M = 20.0
DEPTH_PNG_SCALE = 1e-3         # metres per unit of a 16-bit depth PNG (millimetres) by default
EXPOSURE_LAMBDA_P99 = 0.6      # default exposure: the 99th-percentile irradiance gives this λ
EXPOSURE_PERCENTILE = 99.0

# --- datasets -----------------------------------------------------------------
DATASET_SAMPLE_DIGITS = 6          # samples/000000: zero-padded sample ids
DATASET_ON_FOCUS_SIGMA = 1.0       # px: a sample is "on" focus when its median sigma is below
DATASET_BLUR_BIN_EDGES = (1.0, 2.0, 4.0)   # px: median-sigma bins [0,1) [1,2) [2,4) [4,inf)
DATASET_MAX_TRIES = 200            # lens/depth draws per sample before the closest is kept
DATASET_PREVIEW_WINDOW = 64        # steps of the preview's window mean around the key step
DATASET_MANIFEST_EVERY_S = 2.0     # rewrite the manifest at most this often while running
DATASET_INFLIGHT_PER_WORKER = 2    # submitted-but-unfinished samples per worker
DATASET_ORPHAN_POLL_S = 0.5        # a pool worker checks this often that its parent still runs
DATASET_PHOTO_MAX_UPSAMPLE = 1.1   # scaled photograph crops: at most this upsampling (pictures
                                   # >= sample size / 1.1; the 400x250 REDS frames make 400x256)
DATASET_OBJECT_SUPERSAMPLE = 4     # sub-samples per pixel side of the near objects' outlines
DATASET_BLOB_CORNERS = 96          # corners of a near blob's outline polygon
DATASET_PICTURE_CACHE_MB = 1024    # decoded photographs a source keeps per process (MB)
DATASET_BOKEH_LEVELS = 8           # σ levels of photo_bokeh's gather blur (spikesim.dataset.bokeh)
DATASET_BOKEH_FOCUS_QUANTILES = (0.1, 0.9)  # photo_bokeh's focus: a depth quantile drawn in this range
