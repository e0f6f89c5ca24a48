"""The one task dispatcher: order, progress, executors, streams; the toys that use it."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from hepc9.errors import DataError
from hepc9.evaluate.ensembles import run_pseudo_experiments
from hepc9.fit.inputs import model_normalisation
from hepc9.fit.toys import _one_toy, fit_toys
from hepc9.physics.constants import SEED_MODEL, WilsonShifts
from hepc9.pipeline import executors
from hepc9.runner import SerialExecutor, map_tasks, task_streams
from hepc9.seeding import child_sequences, seed_sequence


def _square(x: int) -> int:
    return x * x


@pytest.mark.parametrize("how", ["serial", "threads", "serial_executor", "pool_executor"])
@pytest.mark.parametrize("first_here", [False, True])
def test_every_way_gives_the_results_in_order_with_progress(how, first_here):
    items = list(range(7))
    done: list[int] = []
    kw: dict = {"progress": done.append, "first_here": first_here}
    if how == "threads":
        out = map_tasks(_square, items, threads=3, **kw)
    elif how == "serial":
        out = map_tasks(_square, items, **kw)
    else:
        ex = SerialExecutor() if how == "serial_executor" else ThreadPoolExecutor(2)
        with ex:
            out = map_tasks(_square, items, executor=ex, **kw)
    assert out == [i * i for i in items]
    assert done == list(range(1, 8))


def test_first_task_runs_in_the_calling_thread_and_errors_propagate():
    here = threading.get_ident()
    seen: list[int] = []

    def who(i: int) -> int:
        seen.append(threading.get_ident())
        return i

    assert map_tasks(who, [0, 1, 2, 3], threads=2, first_here=True) == [0, 1, 2, 3]
    assert seen[0] == here
    assert map_tasks(_square, [], threads=2, first_here=True) == []
    with pytest.raises(DataError, match="threads"):
        map_tasks(_square, [1], threads=0)

    def boom(i: int) -> int:
        raise ValueError(f"task {i}")

    with pytest.raises(ValueError, match="task 0"), SerialExecutor() as ex:
        map_tasks(boom, [0, 1], executor=ex)


def test_streams_and_the_pipeline_reexports():
    got = task_streams(9, "fit_toys", 3)
    ref = child_sequences(seed_sequence(9, "fit_toys"), 3)
    assert [s.spawn_key for s in got] == [s.spawn_key for s in ref]
    assert [s.generate_state(2).tolist() for s in got] == [s.generate_state(2).tolist()
                                                             for s in ref]
    assert executors.SerialExecutor is SerialExecutor
    assert executors.map_chunks(_square, [2, 3], SerialExecutor()) == [4, 9]


def test_evaluation_runner_progress_goes_through_the_dispatcher():
    done: list[int] = []
    run = run_pseudo_experiments(
        "m", lambda b: (np.asarray(b), None, None), [(0.0, [0.1, -0.1]), (1.0, [1.2, 0.8])],
        events_per_set=10, progress=done.append,
    )
    assert done == [1, 2]
    assert run.result.to_dict()["method"] == "m"


def test_toys_equal_a_hand_loop_over_their_streams():
    """fit_toys through the dispatcher = the toys recomputed one by one on their streams."""
    window = (1.1, 6.0)
    truth = WilsonShifts(dc9=-0.4)
    got = fit_toys(3, 400, truth=truth, seed=13, q2_range=window, minos=True, workers=2)
    at = truth.with_(dc9=0.0)
    norm = model_normalisation(params=("dc9",), at=at, constants=SEED_MODEL, q2_range=window)
    rows = [_one_toy(ss, n_events=400, truth=truth, free=("dc9",), at=at, window=window,
                     constants=SEED_MODEL, norm=norm, minos=True)
            for ss in child_sequences(seed_sequence(13, "fit_toys"), 3)]
    for j, name in enumerate(("values", "errors", "minos_lower", "minos_upper")):
        np.testing.assert_array_equal(getattr(got, name), np.array([r[j] for r in rows]))
    np.testing.assert_array_equal(got.valid, [r[4] for r in rows])
    np.testing.assert_array_equal(got.nll, [r[5] for r in rows])
