"""FrameRing: order, overflow policies and counters, errors, and concurrent producer/consumer."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from avemotion import _core
from avemotion.streaming import FrameRing


def _items(start: int, n: int, dim: int = 3) -> tuple[np.ndarray, np.ndarray]:
    idx = np.arange(start, start + n)
    return idx.astype(np.float64), np.repeat(idx[:, None], dim, axis=1).astype(np.float32)


def test_push_pop_keeps_order_and_payload() -> None:
    ring = FrameRing(dim=3, capacity=10)
    ts, x = _items(0, 7)
    assert ring.push(ts, x, flags=np.arange(7) % 2 == 0) == 7
    assert len(ring) == 7
    t1, x1, f1 = ring.pop(4)
    t2, x2, f2 = ring.pop()
    np.testing.assert_array_equal(np.concatenate([t1, t2]), ts)
    np.testing.assert_array_equal(np.concatenate([x1, x2]), x)
    np.testing.assert_array_equal(np.concatenate([f1, f2]), np.arange(7) % 2 == 0)
    assert len(ring) == 0 and ring.pop()[0].shape == (0,)
    assert ring.stats() == {
        "pushed": 7,
        "popped": 7,
        "dropped_oldest": 0,
        "dropped_newest": 0,
        "size": 0,
    }


def test_drop_oldest_keeps_newest_and_counts() -> None:
    ring = FrameRing(dim=3, capacity=4)
    ring.push(*_items(0, 10))
    ts, x, flags = ring.pop()
    np.testing.assert_array_equal(ts, [6, 7, 8, 9])
    assert flags.all()
    s = ring.stats()
    assert s["dropped_oldest"] == 6 and s["pushed"] == 10 and s["popped"] == 4


def test_drop_newest_keeps_oldest_and_counts() -> None:
    ring = FrameRing(dim=3, capacity=4, policy="drop_newest")
    assert ring.push(*_items(0, 10)) == 4
    np.testing.assert_array_equal(ring.pop()[0], [0, 1, 2, 3])
    s = ring.stats()
    assert s["dropped_newest"] == 6 and s["pushed"] == 4


def test_wraps_around_many_times() -> None:
    ring = FrameRing(dim=2, capacity=5, max_pop_batch=2)
    got = []
    for i in range(0, 300, 3):
        ring.push(*_items(i, 3, dim=2))
        got.append(ring.pop(3)[0])
    np.testing.assert_array_equal(np.concatenate(got), np.arange(300))


def test_bad_input_names_argument() -> None:
    ring = FrameRing(dim=3, capacity=4)
    with pytest.raises(ValueError, match=r"steps: expected shape \(2, 3\)"):
        ring.push([0.0, 1.0], np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"timestamps: expected shape \(N,\)"):
        ring.push(np.zeros((2, 1)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="flags"):
        ring.push([0.0], np.zeros((1, 3)), flags=[True, False])
    with pytest.raises(
        ValueError, match="policy: expected 'drop_oldest' or 'drop_newest', got 'lifo'"
    ):
        FrameRing(dim=3, capacity=4, policy="lifo")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="capacity: expected >= 1, got 0"):
        FrameRing(dim=3, capacity=0)
    assert len(ring) == 0


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
@pytest.mark.parametrize(
    ("capacity", "push_batch", "pop_batch"), [(1, 1, 1), (8, 3, 2), (64, 16, 300), (1000, 7, 64)]
)
def test_cpp_threads_hammer_ring(
    policy: str, capacity: int, push_batch: int, pop_batch: int
) -> None:
    """A C++ producer thread and consumer thread: nothing lost that was not counted, order kept,
    no torn item."""
    n = 300_000
    r = _core.testing_ring_stress(4, capacity, policy, n, push_batch, pop_batch)
    assert r["order_errors"] == 0 and r["payload_errors"] == 0
    assert r["pushed"] + r["dropped_newest"] == n
    assert r["pushed"] == r["popped"] + r["dropped_oldest"]
    if policy == "drop_newest":
        assert r["dropped_oldest"] == 0


def test_cpp_threads_lossless_when_capacity_suffices() -> None:
    r = _core.testing_ring_stress(16, 100_000, "drop_oldest", 100_000, 5, 17)
    assert r["popped"] == 100_000 and r["dropped_oldest"] == r["dropped_newest"] == 0
    assert r["order_errors"] == r["payload_errors"] == 0


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
def test_python_threads_producer_consumer(policy: str) -> None:
    """Producer and consumer Python threads (the C++ calls release the GIL)."""
    ring = FrameRing(dim=8, capacity=32, policy=policy, max_pop_batch=8)  # type: ignore[arg-type]
    n, batch = 20_000, 10
    done = threading.Event()
    popped: list[np.ndarray] = []
    bad: list[str] = []

    def produce() -> None:
        for i in range(0, n, batch):
            ring.push(*_items(i, batch, dim=8), flags=(np.arange(i, i + batch) % 3) == 0)
        done.set()

    def consume() -> None:
        while True:
            finished = done.is_set()
            ts, x, fl = ring.pop(16)
            if ts.size:
                if (
                    not (x == ts[:, None].astype(np.float32)).all()
                    or not (fl == (ts.astype(int) % 3 == 0)).all()
                ):
                    bad.append("payload")
                popped.append(ts)
            elif finished:
                return

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = np.concatenate(popped) if popped else np.zeros(0)
    s = ring.stats()
    assert not bad
    assert np.all(np.diff(got) > 0)
    assert got.size == s["popped"]
    assert s["pushed"] + s["dropped_newest"] == n
    assert s["pushed"] == s["popped"] + s["dropped_oldest"]
