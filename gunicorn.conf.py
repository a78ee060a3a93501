"""gunicorn settings, all taken from config.py (and so from the environment).

No preload_app: TensorFlow is not fork-safe, so every worker loads the model after the fork.
"""
import config as service  # not "config": gunicorn reads that name as one of its own settings

bind = f"{service.HOST}:{service.PORT}"
workers = service.WORKERS
threads = service.THREADS
worker_class = "gthread"
timeout = service.TIMEOUT
graceful_timeout = service.GRACEFUL_TIMEOUT
max_requests = service.MAX_REQUESTS
max_requests_jitter = service.MAX_REQUESTS_JITTER
loglevel = service.LOG_LEVEL
accesslog = "-" if service.ACCESS_LOG else None
errorlog = "-"
chdir = str(service.REPO_ROOT)  # maxfw's MAXApp reads config.py from the working directory
preload_app = False
# gunicorn's control socket lives under $HOME, which a container's non-root user may not have; nothing uses it.
control_socket_disable = True
