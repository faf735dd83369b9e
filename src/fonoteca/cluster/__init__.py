"""Running the heavy stages (ingest, audio features, pack hashing, verify) on more than one process or machine.

An executor runs one pure task function over many inputs and hands each result back to the coordinating process
as it completes; only the coordinator writes the catalog. Two executors, one interface:

- LocalExecutor: a process pool on this machine (the default; `--workers N`);
- DaskExecutor: a Dask distributed cluster (`--scheduler tcp://HOST:PORT` or `[cluster] scheduler` in
  fonoteca.toml); `fonoteca cluster local --workers N` starts one on this machine to try it.

How a stage uses it:

    from fonoteca.cluster import Crashed, ExecutorConfig, make_executor

    config = ExecutorConfig.from_config(archive.config, scheduler=scheduler_option, workers=workers_option)
    with make_executor(config) as executor:
        def on_result(task, result):
            if isinstance(result, Crashed):   # the task kept killing its worker: record it, go on
                ...
            else:                            # rename the task's finished temporary file into place, then commit
                ...
        executor.run(my_task_function, tasks, on_result)          # or: for task, result in map_unordered(...)

The task function is module-level (importable on every worker), idempotent (it may run twice when a worker is
lost: it writes only fresh temporary names), never touches the catalog. What the workers can see is the
[cluster] storage setting (executor.storage): "shared" (the archive and the sources at the same paths
everywhere), "sources" (only the sources; results carry their files' bytes back) or "none" (also pass
attach=read_input, and the function gets fn(task, data)). Local executors are always "shared".
"""

from fonoteca.lazy import lazy_exports

_EXPORTS = {
    "STORAGE_HELP": "executors",
    "STORAGE_MODES": "executors",
    "Crashed": "executors",
    "DaskExecutor": "executors",
    "Executor": "executors",
    "ExecutorConfig": "executors",
    "InlineExecutor": "executors",
    "LocalExecutor": "executors",
    "TaskFailed": "executors",
    "make_executor": "executors",
    "normalise_address": "executors",
    "probe": "executors",
    "worker_scratch": "executors",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
