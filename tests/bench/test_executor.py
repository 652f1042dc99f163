"""The executor: a task's own bad-input error reaches the command line as its one line, whatever runs it."""

import pytest

from recsys_cl.bench import load_config
from recsys_cl.bench._executor import Task, run_tasks
from recsys_cl.errors import InputError, exit_status


# The task is a library function (Ray workers import it by name; a test module's function would not import there).
@pytest.mark.parametrize("executor", ["local", "ray"])
def test_a_tasks_input_error_is_raised_as_itself(executor, tmp_path):
    missing = tmp_path / "x.yaml"
    with pytest.raises(InputError) as raised:
        run_tasks([Task(load_config, (missing,))], lambda index, result: None, executor=executor)
    assert type(raised.value) is InputError  # not Ray's RayTaskError wrapper (its message holds a traceback)
    assert str(raised.value) == f"{missing}: benchmark config not found"
    assert exit_status(raised.value)[0] == 2
