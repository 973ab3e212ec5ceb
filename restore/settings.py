"""Numerical settings of restoration: windows, epsilons, defaults."""

# --- baselines and evaluation ---------------------------------------------------
# method names (despike.md "spikerestore run: the contract"); restore.methods is the registry
NETWORK_METHODS = ("despike", "despike-x8")    # one pass; mean over the 8 flips/transposes
# learned reconstruct-then-deblur cascades (restore.cascades, docs/cascades.md)
LEARNED_CASCADE_METHODS = ("spk2imgnet", "spk2imgnet+gkmnet", "tfp+gkmnet")
METHOD_NAMES = NETWORK_METHODS + ("tfp", "tfi", "tfp+wiener", "tfp+rl", "tfi+wiener",
                                  "tfi+rl") + LEARNED_CASCADE_METHODS
DEFAULT_METHOD = "despike"        # the bundled network (despike.md: the default once it exists)
DEFAULT_METHODS = "tfp,tfi,tfp+wiener,tfp+rl"   # spikerestore eval --methods default
# TFP / TFI (restore.baselines)
DEFAULT_WINDOW = 192              # steps; the network's longest window (despike.md)
DEFAULT_DEAD_TIME = 1             # steps; the reference camera's (physics.md §4b)
RATE_INVERSION_MIN_DENOM = 0.1    # lambda = r / max(1 - delta r, this): caps lambda at 10 r
# exposure (restore.exposure)
AUTO_EXPOSURE_PERCENTILE = 99.5   # --exposure auto: this percentile of the estimate -> 1
# deconvolution (restore.deconv)
PSF_TRUNCATE = 4.0                # Gaussian PSF kernels reach this many sigma
RL_EPS = 1e-6                     # floor of the RL denominator (charge per step)
SIGMA_MAP_LEVELS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.5, 7.0, 9.0, 11.0)   # px, sigma-map blend
# Wiener noise-to-signal ratio and RL iterations, by (reconstruction, calibrated) and
# window length (steps); tuned on the TRAINING distribution (24 samples of
# examples/configs/trainset.yaml, oracle sigma, max mean PSNR) by
# examples/tune_cascades.py -- see docs/results.md (grids: NSR 1e-3..1, RL 1..40).
WIENER_NSR = {
    ("tfp", False): {192: 0.1, 64: 0.1, 32: 0.1},
    ("tfp", True): {192: 0.01, 64: 0.03, 32: 0.03},
    ("tfi", False): {192: 0.1, 64: 0.1, 32: 0.1},
    ("tfi", True): {192: 0.1, 64: 0.1, 32: 0.1},
}
RL_ITERATIONS = {
    ("tfp", False): {192: 5, 64: 5, 32: 3},
    ("tfp", True): {192: 20, 64: 10, 32: 3},
    ("tfi", False): {192: 1, 64: 1, 32: 1},
    ("tfi", True): {192: 1, 64: 1, 32: 1},
}
# low-frequency anchor of the networks' calibrated outputs (restore.anchor): matched to the
# calibrated TFP through the estimated blur, above a Gaussian scale of max(MIN, PER_SIGMA x it);
# chosen on the natural development sets (experiments/README.md, "Low-frequency anchor")
ANCHOR_DEFAULT = False            # opt-in (--anchor) until every network table is re-measured with it
ANCHOR_SCALE_PER_SIGMA = 4.0      # x sigma-hat: G_s * PSF within 3 % of G_s in width
ANCHOR_MIN_SCALE = 2.0            # px
# sigma estimator (restore.sigma_estimate)
SIGMA_EST_MAX = 12.0              # px, the fitted sigma is bounded to [0, this]
SIGMA_EST_BINS = 48               # radial frequency bins of the power spectrum
SIGMA_EST_FMIN = 0.02             # cycles/px, lowest fitted frequency (Nyquist 0.5)
SIGMA_EST_FLOOR = 1e-6            # spectrum floor relative to its maximum (a 60 dB fit range)
SIGMA_EST_STARTS = (0.3, 1.0, 2.0, 4.0, 8.0)   # px, starting sigmas of the fit (best kept)
SIGMA_EST_MIN_BINS = 8            # fewer non-empty bins (a tiny image): refused
SIGMA_EST_MAX_RMS = 1.5           # nepers: a worse fit of log P is no blurred scene: sigma 0
# metrics (restore.metrics): Wang et al. 2004
SSIM_WINDOW_SIGMA = 1.5
SSIM_WINDOW_RADIUS = 5            # 11-tap window
SSIM_K1 = 0.01
SSIM_K2 = 0.03
# evaluation (restore.evaluate)
MONTAGE_SAMPLES = 4


# --- DeSpike network ------------------------------------------------------------
DESPIKE_WINDOWS = (64, 96, 128, 160, 192)   # IF windows T_i around the key step (paper)
DESPIKE_SCALE_EPS = 1e-3        # floor of the per-image normalisation scale (thresholds/step)
DESPIKE_MIN_STEPS = 8           # a stream shorter than this is too short for any window
DESPIKE_TILE = 512              # inference tile side (px) for large frames
DESPIKE_TILE_OVERLAP = 32       # overlap of neighbouring tiles (px), blended linearly
DESPIKE_WEIGHTS_FILE = "despike-natural.pt"  # the default bundled weights under restore/despike/weights/
DESPIKE_PROCEDURAL_WEIGHTS_FILE = "despike-small.pt"  # the procedural-only model, its first stage
DESPIKE_WEIGHTS_FORMAT = 1      # version of the weights file layout
# bundled weights of the learned cascades under restore/cascades/weights/ (none bundled yet),
# and the stage config that trains each (docs/cascades.md)
CASCADE_WEIGHTS_FILES = {"spk2imgnet": "spk2imgnet-cpu.pt",
                         "spk2imgnet+gkmnet": "spk2imgnet-cpu+gkmnet-cpu.pt",
                         "tfp+gkmnet": "tfp+gkmnet-cpu.pt"}
CASCADE_TRAINING = {"spk2imgnet": ("experiments/configs/cascade_spk2imgnet.yaml",),
                    "spk2imgnet+gkmnet": ("experiments/configs/cascade_spk2imgnet.yaml",
                                          "experiments/configs/cascade_spk2imgnet_gkmnet.yaml"),
                    "tfp+gkmnet": ("experiments/configs/cascade_tfp_gkmnet.yaml",
                                   "experiments/configs/cascade_tfp_gkmnet_long.yaml")}
