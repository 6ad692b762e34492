# hpadvisor: the API (`hpadvisor serve`) and the tuning worker (`hpadvisor worker`) in one image.
#
#   docker build -t hpadvisor .                                  # python:3.11-slim, CPU torch
#   docker build -t hpadvisor:cuda \
#     --build-arg BASE_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04 \
#     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130 .  # CUDA base and torch
#
# TORCH_SPEC is the pin, torch and torchvision together (the same as the Makefile's);
# TORCH_INDEX_URL is where they come from: PyTorch's CPU-only index by default (PyPI's Linux
# wheels would bring several GB of CUDA libraries); empty means PyPI. See docs/deploy.md.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG TORCH_SPEC="torch==2.14.1 torchvision==0.29.1"
ARG TORCH_INDEX_URL="https://download.pytorch.org/whl/cpu"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# A CUDA base image has no Python of its own: take the distribution's (3.11 or newer).
RUN if ! command -v python3 >/dev/null 2>&1 || ! python3 -c "import venv, ensurepip" 2>/dev/null; \
    then apt-get update \
      && apt-get install -y --no-install-recommends python3 python3-venv \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv /opt/venv

# torch first and on its own layer: it is most of the image and changes least often.
# $TORCH_SPEC is unquoted on purpose: it names two packages.
RUN if [ -n "$TORCH_INDEX_URL" ]; then \
      pip install --index-url "$TORCH_INDEX_URL" $TORCH_SPEC; \
    else \
      pip install $TORCH_SPEC; \
    fi

WORKDIR /src
COPY pyproject.toml README.md ./
COPY advisor advisor
COPY worker worker
COPY api api
RUN pip install . && rm -rf /src

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin hpadvisor
USER hpadvisor
WORKDIR /home/hpadvisor
# Without a database URL the API and a worker share a SQLite file in the home directory;
# docker-compose.yml points everything at PostgreSQL.
ENV HPADVISOR_DATABASE_URL=sqlite:////home/hpadvisor/hpadvisor.db

EXPOSE 8000
# The API's health (it checks the database too). Worker containers turn this off in compose.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]

ENTRYPOINT ["hpadvisor"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
