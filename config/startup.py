"""What a long-running web process does once it has loaded the application, before its
first request."""

import gc


def freeze_loaded_objects() -> int:
    """Import every view (the URLconf, which Django otherwise imports on the first
    request), collect, then move every object alive to the garbage collector's permanent
    generation; returns how many were frozen.

    A full collection visits every object the process holds. In a web process most of
    them are the application's modules, classes and settings, which live as long as the
    process: a collection took 87 to 115 ms in `make bench-pages` before this, and landed
    on whichever request was running (docs/benchmarks.md, "Garbage collection"). Frozen
    objects are never visited again; what requests create is still collected."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports every view module)
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
