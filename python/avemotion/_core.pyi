"""
avemotion C++ core: SIMD normalization, running statistics, streaming, ONNX Runtime
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
import typing_extensions
__all__: list[str] = ['AVSync', 'AVSyncOptions', 'FrameRing', 'HAVE_ORT', 'OrtModel', 'PICK_HIT', 'PICK_ID', 'PICK_SAMPLED', 'RunningStats', 'SegmentScanner', 'StreamStats', 'SyncStats', 'Window', 'WindowBatch', 'build_info', 'crc32', 'find_nonfinite', 'normalize', 'ort_available_providers', 'ort_headers_api_version', 'ort_library_version', 'prepare_inv_std', 'set_simd_level', 'simd_level', 'testing_ring_stress']
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
    def pop(self, max_n: typing.SupportsInt | typing.SupportsIndex) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.bool]]:
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
class AVSyncOptions:
    """
    The synchronizer's options (cpp/include/avemotion/av_sync.h states each range).
    
    AVSyncOptions(window_s, hop_s, max_latency_s, audio_dim, video_dim, **fields): the first five
    positionally, any field by keyword; unknown names raise TypeError, values out of range
    ValueError naming the field. Fields can be read and assigned; validate() checks them again.
    """
    def __eq__(self, arg0: typing.Any) -> bool:
        ...
    def __hash__(self) -> int:
        ...
    def __init__(self, *args, **kwargs) -> None:
        ...
    def __repr__(self) -> str:
        ...
    def to_dict(self) -> dict:
        """
        The fields as a dict (nested stats as dicts).
        """
    def validate(self) -> None:
        """
        Raise ValueError naming the first field out of range.
        """
    @property
    def audio_dim(self) -> int:
        ...
    @audio_dim.setter
    def audio_dim(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def audio_rate_hz(self) -> float:
        """
        Nominal audio steps per second: sizes the window arrays and buffers.
        """
    @audio_rate_hz.setter
    def audio_rate_hz(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def clock_sync(self) -> str:
        """
        'drift' (default), 'full' or 'none'.
        """
    @clock_sync.setter
    def clock_sync(self, arg1: str) -> None:
        ...
    @property
    def grid_start_s(self) -> float | None:
        """
        The first window ends at ceil(grid_start_s / hop_s) * hop_s; None: from the first step.
        """
    @grid_start_s.setter
    def grid_start_s(self, arg1: typing.SupportsFloat | typing.SupportsIndex | None) -> None:
        ...
    @property
    def hop_s(self) -> float:
        """
        One window every hop_s (s), >= 1e-3.
        """
    @hop_s.setter
    def hop_s(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_drift_ppm(self) -> float:
        ...
    @max_drift_ppm.setter
    def max_drift_ppm(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_gap_s(self) -> float:
        """
        A timestamp jump larger than this is a stream discontinuity (inf: never).
        """
    @max_gap_s.setter
    def max_gap_s(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_latency_s(self) -> float:
        """
        A window is emitted at the latest when the leading stream is this far past its end.
        """
    @max_latency_s.setter
    def max_latency_s(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_offset_s(self) -> float:
        ...
    @max_offset_s.setter
    def max_offset_s(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def max_pending_windows(self) -> int:
        """
        Emitted windows kept until popped (the oldest is discarded beyond, counted).
        """
    @max_pending_windows.setter
    def max_pending_windows(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def rate_margin(self) -> float:
        """
        Headroom over the nominal rates, >= 1.
        """
    @rate_margin.setter
    def rate_margin(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def sync_horizon_s(self) -> float:
        ...
    @sync_horizon_s.setter
    def sync_horizon_s(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def sync_min_sigmas(self) -> float:
        ...
    @sync_min_sigmas.setter
    def sync_min_sigmas(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def sync_min_span_s(self) -> float:
        ...
    @sync_min_span_s.setter
    def sync_min_span_s(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def sync_refit_every(self) -> int:
        ...
    @sync_refit_every.setter
    def sync_refit_every(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def video_dim(self) -> int:
        ...
    @video_dim.setter
    def video_dim(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def video_fps(self) -> float:
        """
        Nominal video steps per second.
        """
    @video_fps.setter
    def video_fps(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def window_s(self) -> float:
        """
        Window length on the audio clock (s), > 0.
        """
    @window_s.setter
    def window_s(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
class StreamStats:
    """
    One stream's counters (cpp/include/avemotion/av_sync.h, per-step rules).
    """
    def __eq__(self, arg0: typing.Any) -> bool:
        ...
    def __hash__(self) -> int:
        ...
    def __init__(self) -> None:
        ...
    def __repr__(self) -> str:
        ...
    def to_dict(self) -> dict:
        """
        The fields as a dict (nested stats as dicts).
        """
    @property
    def accepted(self) -> int:
        ...
    @property
    def dropped(self) -> int:
        """
        dropped_duplicate + dropped_out_of_order + dropped_late
        """
    @property
    def dropped_duplicate(self) -> int:
        ...
    @property
    def dropped_late(self) -> int:
        ...
    @property
    def dropped_out_of_order(self) -> int:
        ...
    @property
    def late(self) -> int:
        """
        accepted after its window was cut or its stream completed
        """
    @property
    def overflowed(self) -> int:
        """
        discarded by a full stream buffer
        """
    @property
    def truncated(self) -> int:
        """
        left out of a window holding too many steps
        """
class SyncStats:
    """
    Health of an AVSync (a snapshot; cpp/include/avemotion/av_sync.h). Watermarks: max(largest
    accepted timestamp, completion bound), -inf before either; lags: the leading watermark minus
    the stream's (NaN before it starts); forced counts max-latency emissions only; drift_ppm /
    offset_s are the latest estimates (0 before the first fit), applied_drift_ppm what the
    timestamp mapping removes. to_dict() gives the same as nested dicts.
    """
    def __eq__(self, arg0: typing.Any) -> bool:
        ...
    def __hash__(self) -> int:
        ...
    def __init__(self) -> None:
        ...
    def __repr__(self) -> str:
        ...
    def to_dict(self) -> dict:
        """
        The fields as a dict (nested stats as dicts).
        """
    @property
    def applied_drift_ppm(self) -> float:
        ...
    @property
    def audio(self) -> StreamStats:
        ...
    @property
    def discontinuities(self) -> int:
        """
        restarts after a timestamp jump larger than max_gap_s
        """
    @property
    def drift_ppm(self) -> float:
        ...
    @property
    def drift_stderr_ppm(self) -> float:
        ...
    @property
    def dropped(self) -> int:
        """
        both streams' drops
        """
    @property
    def emitted(self) -> int:
        """
        windows emitted (holding at least one step)
        """
    @property
    def forced(self) -> int:
        """
        windows emitted by the max-latency rule
        """
    @property
    def lag_audio_s(self) -> float:
        ...
    @property
    def lag_video_s(self) -> float:
        ...
    @property
    def late(self) -> int:
        """
        both streams' late steps
        """
    @property
    def offset_s(self) -> float:
        ...
    @property
    def overflowed(self) -> int:
        """
        both streams' buffer overflows + windows_overflowed
        """
    @property
    def pending(self) -> int:
        ...
    @property
    def popped(self) -> int:
        ...
    @property
    def sync_fits(self) -> int:
        ...
    @property
    def sync_pairs(self) -> int:
        ...
    @property
    def video(self) -> StreamStats:
        ...
    @property
    def watermark_audio(self) -> float:
        ...
    @property
    def watermark_video(self) -> float:
        ...
    @property
    def windows_overflowed(self) -> int:
        """
        emitted windows discarded by a full pending queue
        """
    @property
    def windows_skipped(self) -> int:
        """
        due windows holding no step: jumped over, not emitted
        """
class Window:
    """
    One analysis window (start, end] on the audio clock (seconds): a view of one row of a
    WindowBatch. audio float32 (Ta, audio_dim), audio_mask bool (Ta,), audio_times float64
    (Ta,); video float32 (Tv, video_dim), video_mask bool (Tv,) True = step with a face,
    video_times (Tv,) on the audio clock. Padding rows are zero, mask False, time NaN.
    """
    def __repr__(self) -> str:
        ...
    @property
    def audio(self) -> numpy.ndarray:
        ...
    @property
    def audio_mask(self) -> numpy.ndarray:
        ...
    @property
    def audio_missing(self) -> bool:
        ...
    @property
    def audio_times(self) -> numpy.ndarray:
        ...
    @property
    def end(self) -> float:
        ...
    @property
    def face_missing_share(self) -> float:
        """
        share of the window's video steps without a face (0.0 when none)
        """
    @property
    def forced(self) -> bool:
        """
        emitted by the max-latency rule (never by flush)
        """
    @property
    def n_audio(self) -> int:
        """
        real audio steps
        """
    @property
    def n_video(self) -> int:
        """
        video steps, with or without a face
        """
    @property
    def start(self) -> float:
        ...
    @property
    def video(self) -> numpy.ndarray:
        ...
    @property
    def video_mask(self) -> numpy.ndarray:
        ...
    @property
    def video_missing(self) -> bool:
        ...
    @property
    def video_times(self) -> numpy.ndarray:
        ...
class WindowBatch:
    """
    n windows stacked (AVSync.pop_batch): the fields of Window with a leading axis (n, ...).
    Arrays are views of the batch's memory: AVSync.new_batch(capacity) allocates one batch that
    pop_batch(out=batch) fills again and again without allocating (the next pop overwrites).
    """
    def __getitem__(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> Window:
        ...
    def __init__(self, options: AVSyncOptions, capacity: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __len__(self) -> int:
        ...
    def windows(self) -> list[Window]:
        """
        The batch as Window views, oldest first.
        """
    @property
    def audio(self) -> numpy.ndarray:
        ...
    @property
    def audio_dim(self) -> int:
        ...
    @property
    def audio_mask(self) -> numpy.ndarray:
        ...
    @property
    def audio_missing(self) -> numpy.ndarray:
        """
        n_audio == 0 (a new array)
        """
    @property
    def audio_times(self) -> numpy.ndarray:
        ...
    @property
    def capacity(self) -> int:
        ...
    @property
    def end(self) -> numpy.ndarray:
        ...
    @property
    def face_missing_share(self) -> numpy.ndarray:
        ...
    @property
    def forced(self) -> numpy.ndarray:
        ...
    @property
    def max_audio_steps(self) -> int:
        ...
    @property
    def max_video_steps(self) -> int:
        ...
    @property
    def n_audio(self) -> numpy.ndarray:
        ...
    @property
    def n_video(self) -> numpy.ndarray:
        ...
    @property
    def start(self) -> numpy.ndarray:
        ...
    @property
    def video(self) -> numpy.ndarray:
        ...
    @property
    def video_dim(self) -> int:
        ...
    @property
    def video_mask(self) -> numpy.ndarray:
        ...
    @property
    def video_missing(self) -> numpy.ndarray:
        """
        n_video == 0 (a new array)
        """
    @property
    def video_times(self) -> numpy.ndarray:
        ...
class AVSync:
    """
    Audio-video synchronizer; every rule is in cpp/include/avemotion/av_sync.h. avemotion.streaming.AVSync (a subclass) converts array-likes and takes the options as keyword arguments.
    """
    def __init__(self, options: AVSyncOptions) -> None:
        ...
    def flush(self, end_time: float | None = None) -> int:
        """
        End of stream: both streams complete up to end_time (audio clock; default: the latest timestamp seen; no-op before the first step); emits every window ending <= end_time that holds a step (not forced). Returns the number emitted (0 on a repeated flush).
        """
    def map_video_time(self, pts: typing.SupportsFloat | typing.SupportsIndex) -> float:
        """
        Video pts -> audio clock with the current clock-sync mapping.
        """
    def mark_complete(self, stream: str, until: float | int) -> int:
        """
        Declare one stream complete up to `until` (audio clock) without a step; emits what the window rules then allow. Returns the number of windows emitted.
        """
    def new_batch(self, capacity: typing.SupportsInt | typing.SupportsIndex) -> WindowBatch:
        """
        A reusable output for pop_batch(out=...) holding up to capacity windows.
        """
    def pop_batch(self, max_n: typing.SupportsInt | typing.SupportsIndex | None = None, *, out: WindowBatch | None = None) -> WindowBatch:
        """
        Remove and return up to max_n (default all) ready windows, oldest first, stacked. Without out a new batch is allocated; with out (from new_batch) at most out.capacity windows are written into it and it is returned, nothing allocated.
        """
    def pop_windows(self, max_n: typing.SupportsInt | typing.SupportsIndex | None = None) -> list[Window]:
        """
        Remove and return the ready windows (oldest first) as Window views.
        """
    def push_audio(self, timestamps: numpy.typing.NDArray[numpy.float64], steps: numpy.typing.NDArray[numpy.float32]) -> int:
        """
        Push N audio steps: timestamps (N,) seconds (each step's window end), steps (N, audio_dim). Returns how many were accepted; a non-finite timestamp raises ValueError (nothing applied).
        """
    def push_video(self, timestamps: numpy.typing.NDArray[numpy.float64], steps: numpy.typing.NDArray[numpy.float32], face_present: typing.Any = None) -> int:
        """
        Push N video steps: frame pts (N,) seconds, steps (N, video_dim), face_present (N,) bool or None (all True). Returns how many were accepted.
        """
    def stats(self) -> SyncStats:
        """
        A SyncStats snapshot (to_dict() for a plain dict).
        """
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
    def options(self) -> AVSyncOptions:
        """
        A copy of the options.
        """
    @property
    def pending(self) -> int:
        """
        Windows emitted and not yet popped.
        """
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
    (1 / std, number of constant dims): 1 where std < eps (scale 1). ValueError for NaN/Inf/negative std or eps.
    """
def set_simd_level(level: str) -> None:
    """
    Force the SIMD level ('scalar', 'avx2', 'avx512'); for tests/benchmarks.
    """
def simd_level() -> str:
    ...
def testing_ring_stress(dim: typing.SupportsInt | typing.SupportsIndex, capacity: typing.SupportsInt | typing.SupportsIndex, policy: str, n_items: typing.SupportsInt | typing.SupportsIndex, push_batch: typing.SupportsInt | typing.SupportsIndex, pop_batch: typing.SupportsInt | typing.SupportsIndex) -> dict:
    """
    TEST HOOK, not an API (cpp/testing/ring_stress.h): a C++ producer thread and a consumer thread hammer one FrameRing; returns counters and order/payload error counts.
    """
HAVE_ORT: bool = True
PICK_HIT: int = 1
PICK_ID: int = 4
PICK_SAMPLED: int = 2
