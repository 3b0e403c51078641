"""A command started by a launcher (torchrun, accelerate launch) as several processes: which of them says
an error every process met alike, and the refusal of a command that runs as one process."""

from __future__ import annotations

from streamt2v.launcher import first_on_this_machine, launch_rank, launch_size

# The commands whose processes under a launcher (accelerate launch, torchrun) make one run: the others, started
# there, each run the whole command on their own.
LAUNCHED_TOGETHER: tuple[str, ...] = ("train",)
# How long a launch's process that leaves its error to its machine's first one waits before it exits: torchrun
# stops the other processes as soon as one has failed, and the first one could be stopped before it said it.
LEFT_TO_THE_FIRST_WAIT_S = 1.0


def another_process_of_a_launch() -> bool:
    """Whether a launcher started this process and it is not the launch's main one (``RANK`` 0): its log lines,
    the main one's again, are left to the main one."""
    return bool(launch_rank("RANK"))


class LaunchRefused(ValueError):
    """A command that runs as one process, started by a launcher as several (:func:`refuse_a_launch`)."""


def refuse_a_launch(command: str, why: str) -> None:
    """Refuse ``command`` where a launcher started this process as one of several: it is not split between
    them, and each would do all of it (``why``). Every process meets it alike, so the first one of each
    machine says it (:func:`said_by_another_process_here`)."""
    processes = launch_size()
    if processes == 1:
        return
    raise LaunchRefused(
        f"{command} runs as one process, and a launcher (torchrun, accelerate launch) started it as "
        f"{processes} (WORLD_SIZE={processes}): {why}"
    )


def said_by_another_process_here(command: str | None, err: BaseException | None) -> bool:
    """Whether another process of this launch on this machine (``LOCAL_RANK`` 0) says this process's error, it
    being one every process of the machine met alike, so that it was printed once per process: an error of
    the command line (``err`` None), a command refused under a launcher (:class:`LaunchRefused`), and, for a
    run made by several processes (:data:`LAUNCHED_TOGETHER`), a bad value or a file it cannot use
    (``ValueError``, ``OSError``) before the processes joined their group. Each machine says its own
    (another's files may differ); anything else, and anything once the processes joined (one may fail alone),
    each process says. (A CPU run's memory check runs in the machine's first process alone: the others'
    free memory, read a moment later, may differ.)"""
    if first_on_this_machine():
        return False
    if err is None or isinstance(err, LaunchRefused):
        return True
    if command not in LAUNCHED_TOGETHER or not isinstance(err, (ValueError, OSError)):
        return False
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized())
