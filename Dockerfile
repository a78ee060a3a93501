# Production image of the max-fashion-mnist service (MAX-style Flask + flask-restx, served by gunicorn).
#
# Build:  docker build -t max-fashion-mnist .
# Run:    docker run --rm -p 5000:5000 max-fashion-mnist
#
# Pinned by tag only: pin the digest as well (python:3.11-slim@sha256:<digest>) when a registry is reachable.
FROM python:3.11-slim

LABEL org.opencontainers.image.title="max-fashion-mnist" \
      org.opencontainers.image.description="MAX-style REST microservice that classifies clothing images into the 10 Fashion-MNIST classes" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PORT=5000 \
    WORKERS=1 \
    THREADS=4 \
    TF_CPP_MIN_LOG_LEVEL=2

# Empty by default, so pip uses its own CA bundle. A local build behind a TLS-inspecting proxy may pass the
# path of a CA bundle mounted into the build (e.g. --build-arg PIP_CERT=/etc/pki/ca.pem); build args reach RUN
# steps as environment variables, and pip reads PIP_CERT (an empty value is ignored by pip).
ARG PIP_CERT=""

# The service writes nothing: it runs as an unprivileged user, and its files stay owned by root.
RUN groupadd --system --gid 10001 max \
    && useradd --system --uid 10001 --gid max --no-log-init --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin max

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

# The model: assets/fashion_mnist.h5 and its checksum assets/fashion_mnist.h5.sha256 ("<hex>  fashion_mnist.h5").
COPY assets/ ./assets/

# With model_bucket set, the model is downloaded at build time from ${model_bucket}/${model_file} instead,
# saved as assets/fashion_mnist.h5 (where the service looks for it), and model_sha256 becomes its checksum;
# the build fails when model_sha256 is missing or does not match.
ARG model_bucket=""
ARG model_file=fashion_mnist.h5
ARG model_sha256=""
RUN set -eu; \
    if [ -n "${model_bucket}" ]; then \
        if [ -z "${model_sha256}" ]; then \
            echo "model_bucket is set: --build-arg model_sha256=<sha256 of ${model_file}> is required" >&2; \
            exit 1; \
        fi; \
        python -c "import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])" \
            "${model_bucket%/}/${model_file}" assets/fashion_mnist.h5; \
        echo "${model_sha256}  fashion_mnist.h5" > assets/fashion_mnist.h5.sha256; \
    fi

# Check the model against its checksum in every case, as the runtime user: a corrupted, mismatched or
# unreadable model fails the build rather than the first request.
USER 10001:10001
WORKDIR /app/assets
RUN sha256sum -c fashion_mnist.h5.sha256
WORKDIR /app

# Only what the service needs (see .dockerignore); owned by root, read by the max user.
COPY app.py config.py gunicorn.conf.py ./
COPY api/ ./api/
COPY core/ ./core/

EXPOSE 5000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/model/metadata' % os.environ.get('PORT', '5000'), timeout=4)"]

# gunicorn is PID 1; gunicorn.conf.py reads PORT, WORKERS and THREADS from the environment through config.py.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app:create_app()"]
