"""gunicorn's settings for AppLoom, read with
``gunicorn -c /etc/apploom/gunicorn.conf.py 'apploom.web:create_app()'``.

The app reads its own settings from APPLOOM_* variables (see apploom.env); options on
the command line override these.
"""

import glob
import os

bind = "127.0.0.1:8000"  # the proxy in front (nginx.conf) is the only one to reach it
workers = 4  # processes: about one or two per core
worker_class = "gthread"
threads = 4  # per process; APPLOOM_DB_POOL_SIZE must be at least this
preload_app = True  # load the app once, then fork: less memory, and a broken app or
#                     setting stops the start before any worker runs
timeout = 60  # seconds a request may take before its worker is restarted
graceful_timeout = 30  # on stop or restart, seconds to finish the requests under way
accesslog = None  # AppLoom writes its own access line per request, with its request id
control_socket_disable = True  # gunicorn's control socket (25+) is not needed here


def on_starting(server):
    """Forget the request counts of an earlier run, as prometheus_client asks: each
    worker adds its own file to PROMETHEUS_MULTIPROC_DIR and /metrics sums them all."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        for path in glob.glob(os.path.join(folder, "*.db")):
            os.remove(path)
