"""
avemotion C++ core: SIMD normalization, running statistics, streaming, ONNX Runtime
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
import typing_extensions
__all__: list[str] = ['AVSync', 'FrameRing', 'HAVE_ORT', 'OrtModel', 'PICK_HIT', 'PICK_ID', 'PICK_SAMPLED', 'RunningStats', 'SegmentScanner', 'build_info', 'crc32', 'find_nonfinite', 'normalize', 'ort_available_providers', 'ort_headers_api_version', 'ort_library_version', 'prepare_inv_std', 'ring_stress_test', 'set_simd_level', 'simd_level']
class RunningStats:
    """
    Mergeable mean/variance accumulator (Chan), float64. Strict inputs: C-contiguous float32/float64 (N, dim), mask bool (N,) True = use row.
    """
    @staticmethod
    def from_state(dim: typing.SupportsInt | typing.SupportsIndex, count: typing.SupportsInt | typing.SupportsIndex, mean: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], m2: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> RunningStats:
        ...
    def __getstate__(self) -> tuple[int, int, list[float], list[float]]:
        ...
    def __init__(self, dim: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __setstate__(self, arg0: tuple) -> None:
        ...
    def merge(self, other: RunningStats) -> None:
        ...
    @typing.overload
    def update(self, x: numpy.typing.NDArray[numpy.float32], mask: typing.Any = None) -> None:
        ...
    @typing.overload
    def update(self, x: numpy.typing.NDArray[numpy.float64], mask: typing.Any = None) -> None:
        ...
    @property
    def count(self) -> int:
        ...
    @property
    def dim(self) -> int:
        ...
    @property
    def m2(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    @property
    def mean(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
class FrameRing:
    """
    SPSC lock-free ring of (timestamp f64, vector f32[dim], flag bool) items; see cpp/include/avemotion/frame_ring.h.
    """
    def __init__(self, dim: typing.SupportsInt | typing.SupportsIndex, capacity: typing.SupportsInt | typing.SupportsIndex, policy: str = 'drop_oldest', max_pop_batch: typing.SupportsInt | typing.SupportsIndex = 256) -> None:
        ...
    def __len__(self) -> int:
        ...
    def pop(self, max_n: typing.SupportsInt | typing.SupportsIndex) -> tuple:
        ...
    def push(self, timestamps: numpy.typing.NDArray[numpy.float64], steps: numpy.typing.NDArray[numpy.float32], flags: typing.Any = None) -> int:
        ...
    @property
    def capacity(self) -> int:
        ...
    @property
    def dim(self) -> int:
        ...
    @property
    def dropped_newest(self) -> int:
        ...
    @property
    def dropped_oldest(self) -> int:
        ...
    @property
    def policy(self) -> str:
        ...
    @property
    def popped(self) -> int:
        ...
    @property
    def pushed(self) -> int:
        ...
class AVSync:
    """
    Audio-video synchronizer; see cpp/include/avemotion/av_sync.h.
    """
    def __init__(self, window_s: typing.SupportsFloat | typing.SupportsIndex, hop_s: typing.SupportsFloat | typing.SupportsIndex, max_latency_s: typing.SupportsFloat | typing.SupportsIndex, audio_dim: typing.SupportsInt | typing.SupportsIndex, video_dim: typing.SupportsInt | typing.SupportsIndex, audio_rate_hz: typing.SupportsFloat | typing.SupportsIndex, video_fps: typing.SupportsFloat | typing.SupportsIndex, rate_margin: typing.SupportsFloat | typing.SupportsIndex, max_pending_windows: typing.SupportsInt | typing.SupportsIndex, clock_sync: str, sync_horizon_s: typing.SupportsFloat | typing.SupportsIndex, sync_min_span_s: typing.SupportsFloat | typing.SupportsIndex, sync_refit_every: typing.SupportsInt | typing.SupportsIndex, max_drift_ppm: typing.SupportsFloat | typing.SupportsIndex, max_offset_s: typing.SupportsFloat | typing.SupportsIndex, sync_min_sigmas: typing.SupportsFloat | typing.SupportsIndex, grid_start_s: typing.SupportsFloat | typing.SupportsIndex = ...) -> None:
        ...
    def flush(self, end_time: typing.Any = None) -> int:
        ...
    def map_video_time(self, pts: typing.SupportsFloat | typing.SupportsIndex) -> float:
        ...
    def mark_complete(self, stream: str, until: typing.SupportsFloat | typing.SupportsIndex) -> int:
        ...
    def pop(self, max_n: typing.SupportsInt | typing.SupportsIndex) -> dict:
        ...
    def pop_into(self, out: dict, max_n: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    def push_audio(self, timestamps: numpy.typing.NDArray[numpy.float64], steps: numpy.typing.NDArray[numpy.float32]) -> int:
        ...
    def push_video(self, timestamps: numpy.typing.NDArray[numpy.float64], steps: numpy.typing.NDArray[numpy.float32], face_present: typing.Any = None) -> int:
        ...
    def stats(self) -> dict:
        ...
    @property
    def audio_buffer_steps(self) -> int:
        ...
    @property
    def max_audio_steps(self) -> int:
        ...
    @property
    def max_video_steps(self) -> int:
        ...
    @property
    def pending(self) -> int:
        ...
    @property
    def sync_pair_capacity(self) -> int:
        ...
    @property
    def video_buffer_steps(self) -> int:
        ...
class OrtModel:
    """
    An ONNX Runtime session through the C API (see cpp/include/avemotion/ort_model.h).
    """
    def __init__(self, library_path: str, model_path: str, provider: str = 'cpu', device_id: typing.SupportsInt | typing.SupportsIndex = 0, intra_op_threads: typing.SupportsInt | typing.SupportsIndex = 0, inter_op_threads: typing.SupportsInt | typing.SupportsIndex = 0, strict: bool = False, graph_optimization: typing.SupportsInt | typing.SupportsIndex = 99) -> None:
        ...
    def run(self, inputs: collections.abc.Sequence) -> list:
        """
        Run on C-contiguous float32 arrays in the model's input order (no copy); returns the outputs as new float32 arrays, in output order. The GIL is released during Run().
        """
    @property
    def fallback_reason(self) -> str:
        """
        Why a requested CUDA provider fell back to the CPU, or ''.
        """
    @property
    def inputs(self) -> list:
        """
        [(name, shape)] in session order; None for a dynamic dimension.
        """
    @property
    def max_batch_seen(self) -> int:
        ...
    @property
    def outputs(self) -> list:
        ...
    @property
    def provider(self) -> str:
        """
        'cpu' or 'cuda': the provider in use.
        """
class SegmentScanner:
    """
    One-pass line scanner for AudioSet segment CSV blocks (see segment_scan.h): line/comment counts, first line breaking the row grammar, and the lines that contain a needle, fall in the CRC-32 sample or start with one of the ids.
    """
    def __init__(self, needles: collections.abc.Sequence[str], ids: collections.abc.Sequence[str], crc_seed: typing.SupportsInt | typing.SupportsIndex, crc_limit: typing.SupportsInt | typing.SupportsIndex, check_grammar: bool) -> None:
        ...
    def scan(self, block: typing_extensions.Buffer) -> tuple:
        """
        block: bytes of whole lines ending in b'\\n' -> (lines, comments, first_invalid (-1: none), [(line, begin, end, flags), ...]) with byte offsets; flags: PICK_HIT | PICK_SAMPLED | PICK_ID.
        """
def build_info() -> dict:
    """
    Compiler, flags, SIMD level detected and in use, ONNX Runtime header version.
    """
def crc32(data: bytes, value: typing.SupportsInt | typing.SupportsIndex = 0) -> int:
    """
    zlib-compatible CRC-32 of bytes, continued from value.
    """
def find_nonfinite(x: numpy.typing.NDArray[numpy.float32]) -> int:
    """
    Flat index of the first NaN/Inf, or -1.
    """
def normalize(x: numpy.typing.NDArray[numpy.float32], mean: numpy.typing.NDArray[numpy.float32], inv_std: numpy.typing.NDArray[numpy.float32], out: numpy.typing.NDArray[numpy.float32], check_finite: bool = True) -> int:
    """
    out = (x - mean) * inv_std over float32 C-contiguous (N, D) or (D,) arrays; out may be x.
    Returns -1, or the first row holding NaN/Inf when check_finite (x untouched if in place).
    Strict: no conversion or copy; use avemotion.normalize for any array-like.
    """
def ort_available_providers(library_path: str) -> list[str]:
    """
    Execution providers the library was built with.
    """
def ort_headers_api_version() -> int:
    """
    ORT_API_VERSION of the headers this module was built with.
    """
def ort_library_version(library_path: str) -> str:
    """
    Load libonnxruntime (once per process) and return its version string.
    """
def prepare_inv_std(std: numpy.typing.NDArray[numpy.float32], eps: typing.SupportsFloat | typing.SupportsIndex) -> tuple[numpy.typing.NDArray[numpy.float32], int]:
    """
    (1 / max(std, eps), number clamped). Raises ValueError for NaN/Inf/negative std.
    """
def ring_stress_test(dim: typing.SupportsInt | typing.SupportsIndex, capacity: typing.SupportsInt | typing.SupportsIndex, policy: str, n_items: typing.SupportsInt | typing.SupportsIndex, push_batch: typing.SupportsInt | typing.SupportsIndex, pop_batch: typing.SupportsInt | typing.SupportsIndex) -> dict:
    """
    Test hook: a C++ producer thread and consumer thread hammer one FrameRing; returns counters.
    """
def set_simd_level(level: str) -> None:
    """
    Force the SIMD level ('scalar', 'avx2', 'avx512'); for tests/benchmarks.
    """
def simd_level() -> str:
    ...
HAVE_ORT: bool = True
PICK_HIT: int = 1
PICK_ID: int = 4
PICK_SAMPLED: int = 2
