"""config.startup: what a web process does once the application is loaded."""

import subprocess
import sys

from django.conf import settings

from tests.payments.support import subprocess_env

# In a process of its own: freezing is for the rest of a process's life.
SCRIPT = """
import gc, sys
import django
django.setup()
before = "config.urls" in sys.modules
from config.startup import freeze_loaded_objects
frozen = freeze_loaded_objects()
after = "config.urls" in sys.modules

class Cycle:
    pass

made = Cycle()
made.self = made  # garbage only a collection frees
del made
freed = gc.collect()
print(before, after, frozen == gc.get_freeze_count() > 10_000, freed >= 1)
"""


def test_the_loaded_application_is_frozen_and_later_garbage_still_collected():
    finished = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=settings.BASE_DIR,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    # The URLconf (and with it every view) was imported by the freeze, not before it.
    assert finished.stdout.split() == ["False", "True", "True", "True"]
