# Production image of the max-fashion-mnist service (MAX-style Flask + flask-restx, served by gunicorn).
#
# Build:  docker build -t max-fashion-mnist .
# Run:    docker run --rm -p 5000:5000 max-fashion-mnist       (add -p 8081:8081 for gRPC)
# Proven end to end (built with podman, served over HTTP with a read-only root): make docker-verify
#
# Two variants, one build argument apart:
#   RUNTIME=onnxruntime (the default): ONNX Runtime serves the model's int8 export; no TensorFlow (requirements.txt).
#   RUNTIME=tensorflow: TensorFlow as well (requirements-tensorflow.txt), for INFERENCE_RUNTIME=tensorflow and for a
#     model without its ONNX export (model_bucket below):
#     docker build --build-arg RUNTIME=tensorflow -t max-fashion-mnist:tensorflow .
# Both carry the Keras file, the model's source of truth, and check its sha256.
#
# The base is pinned by tag. Its digest could not be looked up where this file was written (no registry reachable):
# record it when building against the real registry, and pin both stages to it:
#   FROM python:3.11-slim@sha256:<DIGEST-TO-BE-RECORDED> AS ...
# (`docker buildx imagetools inspect python:3.11-slim` prints it.)

# --- Stage 1: the Python dependencies, in a virtual environment that the runtime stage copies as it is ---
FROM python:3.11-slim AS dependencies

# pip needs nothing from outside the build unless it is told to:
# - PIP_CERT: a CA bundle mounted into the build, for a network behind a TLS-inspecting proxy
#   (e.g. -v /etc/ssl/certs/ca-certificates.crt:/etc/host-ca.crt:ro --build-arg PIP_CERT=/etc/host-ca.crt);
# - PIP_CONFIG_FILE: a pip.conf mounted into the build, for a package mirror or local wheels.
# Build args reach RUN steps as environment variables, which pip reads; pip ignores empty ones. They stay in this
# stage: the runtime image's history does not record them.
ARG PIP_CERT=""
ARG PIP_CONFIG_FILE=""

ENV PIP_DISABLE_PIP_VERSION_CHECK=1

# Only the requirements files, so that a code change does not reinstall the dependencies. Every dependency is a
# binary wheel: no compiler is needed, and none is installed; pip keeps no cache. pip compiles the .pyc files here,
# as the runtime user could not write them (nor may it, on a read-only root filesystem).
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

# RUNTIME=tensorflow adds TensorFlow, Keras and h5py to the same environment (declared here, so that both variants
# share the layer above). TensorFlow's C++ headers (tensorflow/include, ~290 MB) only serve to compile custom ops:
# they stay out of the image.
ARG RUNTIME=onnxruntime
COPY requirements-tensorflow.txt /tmp/requirements-tensorflow.txt
RUN case "${RUNTIME}" in \
        onnxruntime) ;; \
        tensorflow) /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements-tensorflow.txt \
                    && rm -rf /opt/venv/lib/python3*/site-packages/tensorflow/include ;; \
        *) echo "RUNTIME must be onnxruntime (the default) or tensorflow, not '${RUNTIME}'" >&2; exit 1 ;; \
    esac

# Left out of the runtime image (~62 MB): pip and setuptools (nothing is installed at run time), the test suites of
# numpy, gevent and zope.interface, ONNX Runtime's tools for converting and quantizing models (the service only
# runs one), type stubs (.pyi) and Swagger UI's source maps (.js.map: only a browser's developer tools ask for them).
RUN site=$(echo /opt/venv/lib/python3*/site-packages) \
    && /opt/venv/bin/python -m pip uninstall --yes --quiet pip setuptools \
    && rm -rf "$site"/numpy/tests "$site"/numpy/*/tests "$site"/gevent/tests "$site"/zope/interface/tests \
              "$site"/zope/interface/common/tests "$site"/onnxruntime/transformers "$site"/onnxruntime/tools \
              "$site"/onnxruntime/quantization \
    && find "$site" \( -name '*.pyi' -o -name '*.js.map' \) -delete

# --- Stage 2: the runtime image ---
FROM python:3.11-slim

LABEL org.opencontainers.image.title="max-fashion-mnist" \
      org.opencontainers.image.description="MAX-style REST microservice that classifies clothing images into the 10 Fashion-MNIST classes" \
      org.opencontainers.image.version="1.0.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim"

# PORT, WORKERS and THREADS are config.py's defaults, repeated here so that `docker inspect` shows them; every
# variable of config.py can be passed with -e. HOME and KERAS_HOME point into /tmp, the one writable path when the
# root filesystem is read-only (Kubernetes: readOnlyRootFilesystem with an emptyDir on /tmp); KERAS_HOME and
# TF_CPP_MIN_LOG_LEVEL only matter to the RUNTIME=tensorflow variant.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    KERAS_HOME=/tmp/.keras \
    PORT=5000 \
    WORKERS=2 \
    THREADS=8 \
    TF_CPP_MIN_LOG_LEVEL=2

# The service writes nothing outside /tmp: it runs as an unprivileged user, and its files stay owned by root.
RUN groupadd --system --gid 10001 max \
    && useradd --system --uid 10001 --gid max --no-log-init --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin max

COPY --from=dependencies /opt/venv /opt/venv

WORKDIR /app

# The model: assets/fashion_mnist.h5 and its checksum assets/fashion_mnist.h5.sha256 ("<hex>  fashion_mnist.h5"),
# and its int8 ONNX export assets/fashion_mnist.onnx (+ .sha256), which ONNX Runtime serves by default; the photo
# network assets/fashion_mnist_photo.h5 and its export assets/fashion_mnist_photo.onnx (+ .sha256 each).
COPY assets/ ./assets/

# With model_bucket set, the model is downloaded at build time from ${model_bucket}/${model_file} instead,
# saved as assets/fashion_mnist.h5 (where the service looks for it), and model_sha256 becomes its checksum;
# the build fails when model_sha256 is missing or does not match. The shipped ONNX export was made from the
# shipped .h5, so the service then serves the downloaded model with TensorFlow (INFERENCE_RUNTIME=auto), slower:
# that needs --build-arg RUNTIME=tensorflow (without it the build fails here). Run training/export_onnx.py on that
# model and commit its export to serve it with ONNX Runtime.
ARG RUNTIME=onnxruntime
ARG model_bucket=""
ARG model_file=fashion_mnist.h5
ARG model_sha256=""
RUN set -eu; \
    if [ -n "${model_bucket}" ]; then \
        if [ -z "${model_sha256}" ]; then \
            echo "model_bucket is set: --build-arg model_sha256=<sha256 of ${model_file}> is required" >&2; \
            exit 1; \
        fi; \
        if [ "${RUNTIME}" != tensorflow ]; then \
            echo "model_bucket is set: the shipped ONNX export is not of that model, so TensorFlow must serve it:" \
                 "add --build-arg RUNTIME=tensorflow" >&2; \
            exit 1; \
        fi; \
        python -c "import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])" \
            "${model_bucket%/}/${model_file}" assets/fashion_mnist.h5; \
        echo "${model_sha256}  fashion_mnist.h5" > assets/fashion_mnist.h5.sha256; \
    fi

# Check the model against its checksum in every case, as the runtime user: a corrupted, mismatched or
# unreadable model fails the build rather than the first request. (The service checks it again when it loads it.)
USER 10001:10001
WORKDIR /app/assets
RUN sha256sum -c fashion_mnist.h5.sha256 fashion_mnist.onnx.sha256 fashion_mnist_photo.h5.sha256 \
        fashion_mnist_photo.onnx.sha256
WORKDIR /app

# Only what the service needs (see .dockerignore); owned by root, read by the max user.
COPY app.py config.py gunicorn.conf.py gunicorn_worker.py ./
COPY api/ ./api/
COPY core/ ./core/
COPY cli/ ./cli/

# HTTP (PORT) and the Open Inference Protocol over gRPC (GRPC_PORT).
EXPOSE 5000 8081

# /model/metadata answers only once a worker has loaded the model. Python's urllib: slim images have no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/model/metadata' % os.environ.get('PORT', '5000'), timeout=4)"]

# gunicorn is PID 1 (exec form: no shell in between, so it receives SIGTERM and drains); gunicorn.conf.py reads
# PORT, WORKERS, THREADS and the rest from the environment through config.py.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app:create_app()"]

# Last, so that a new commit only changes the image's metadata: which source it was built from, and when.
ARG VCS_REF=""
ARG BUILD_DATE=""
LABEL org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.created="${BUILD_DATE}"
